// `npm run bench`: runs each benchmark in its own process. Names pick a subset; words after a
// name that are not benchmark names go to that benchmark (`npm run bench -- frameworks fastify
// memory` runs one framework's one case).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

// bench/http (the examples' protected routes against their open ones, keyward's access tokens
// against keys) runs on demand, `npm run bench -- http`: with it the whole run took more than
// ten minutes on a shared 2-core machine, and bench/frameworks measures its key cases against
// hand-written code in every framework
const all = ['verify', 'changes', 'tokens', 'limits', 'frameworks']
const isBench = (name: string) => existsSync(`bench/${name}.ts`) && !name.includes('/')
const picked: { name: string; args: string[] }[] = []
for (const word of process.argv.slice(2)) {
  if (isBench(word) || picked.length === 0) picked.push({ name: word, args: [] })
  else picked[picked.length - 1]!.args.push(word)
}
let failed = false
for (const { name, args } of picked.length > 0 ? picked : all.map((name) => ({ name, args: [] }))) {
  const file = `bench/${name}.ts`
  if (!existsSync(file)) {
    console.log(`bench/${name}: not present, skipped`)
    continue
  }
  const started = Date.now()
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file, ...args], {
    stdio: 'inherit',
  })
  console.log(
    `bench/${name}: ${((Date.now() - started) / 1000).toFixed(0)} s${r.status === 0 ? '' : `, exit code ${r.status}`}`,
  )
  if (r.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
