// `npm run bench`: runs each benchmark in its own process (names as arguments pick a subset).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const all = ['verify', 'changes', 'tokens', 'limits', 'http']
const picked = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all
let failed = false
for (const name of picked) {
  const file = `bench/${name}.ts`
  if (!existsSync(file)) {
    console.log(`bench/${name}: not present, skipped`)
    continue
  }
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], {
    stdio: 'inherit',
  })
  if (r.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
