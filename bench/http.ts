// `npm run bench:http`: per framework, the example's open GET /health (the ceiling) against its
// protected GET /orders with 1,000 distinct keys cycled by the load generator, on a SQLite
// store with a warm cache. The two alternate several times in one run; the server and the
// load generator are pinned to different cores when taskset is available. Prints ratios and
// p99 latencies only: absolute rates on shared machines mean little.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon, { type AutocannonResult } from 'autocannon'
import { createKeyward } from '../src/core/keyward.js'
import { openSqliteStore } from '../src/stores/sqlite/index.js'

const ROOT = join(import.meta.dirname, '..')
const FRAMEWORKS = (
  process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['fastify', 'node', 'express', 'hono']
) as string[]
const KEYS = 1_000
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16)

const canPin =
  availableParallelism() >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0
if (canPin) spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' })

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

async function createKeys(file: string, pepper: string): Promise<string[]> {
  const store = openSqliteStore(file)
  await store.migrate()
  const keyward = await createKeyward({ store, peppers: [{ version: 1, secret: pepper }] })
  const keys: string[] = []
  for (let i = 0; i < KEYS; i++) {
    keys.push((await keyward.createKey({ name: `bench-${i}`, scopes: ['orders:read'] })).key)
  }
  await keyward.close()
  await store.close()
  return keys
}

async function startExample(
  framework: string,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; base: string }> {
  const command = [process.execPath, '--import', 'tsx', `examples/${framework}.ts`]
  const child = canPin
    ? spawn('taskset', ['-c', '0', ...command], {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(command[0]!, command.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(output)
      if (m) resolve(m[1]!)
    })
    child.once('exit', (code) => reject(new Error(`example:${framework} exited with ${code}`)))
  })
  return { child, base }
}

/** One load run; both routes get a header of the same size so the generator's work is equal. */
function load(
  base: string,
  path: string,
  header: string,
  keys: readonly string[],
  opts: { duration?: number; amount?: number },
) {
  let i = 0
  return autocannon({
    url: base,
    connections: CONNECTIONS,
    pipelining: 1,
    ...opts,
    requests: [
      {
        method: 'GET',
        path,
        setupRequest: (req) => {
          req.headers = { [header]: keys[i++ % keys.length]! }
          return req
        },
      },
    ],
  })
}

function check(result: AutocannonResult, what: string): void {
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0)
    throw new Error(
      `${what}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`,
    )
}

async function benchFramework(framework: string, env: NodeJS.ProcessEnv, keys: string[]) {
  const { child, base } = await startExample(framework, env)
  try {
    // warm-up: JIT on both routes, every key once through the store into the cache
    check(await load(base, '/health', 'x-pad', keys, { amount: 2 * KEYS }), 'warm-up /health')
    check(await load(base, '/orders', 'x-api-key', keys, { amount: 2 * KEYS }), 'warm-up /orders')
    const open: AutocannonResult[] = []
    const protectedRuns: AutocannonResult[] = []
    for (let r = 0; r < ROUNDS; r++) {
      const o = await load(base, '/health', 'x-pad', keys, { duration: SECONDS })
      check(o, '/health')
      open.push(o)
      const p = await load(base, '/orders', 'x-api-key', keys, { duration: SECONDS })
      check(p, '/orders')
      protectedRuns.push(p)
    }
    const ratio = median(
      protectedRuns.map((p, r) => p.requests.average / open[r]!.requests.average),
    )
    const openRate = median(open.map((o) => o.requests.average))
    const protRate = median(protectedRuns.map((p) => p.requests.average))
    const openP99 = median(open.map((o) => o.latency.p99))
    const protP99 = median(protectedRuns.map((p) => p.latency.p99))
    console.log(
      `${framework.padEnd(8)} protected/open ${ratio.toFixed(2)}   p99 open ${openP99.toFixed(1)} ms, protected ${protP99.toFixed(1)} ms   (${Math.round(protRate)} vs ${Math.round(openRate)} req/s, ${ROUNDS}x${SECONDS}s alternating, ${CONNECTIONS} connections)`,
    )
  } finally {
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await exited
  }
}

const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-http-'))
try {
  const pepper = randomBytes(36).toString('base64')
  const file = join(dir, 'keyward.db')
  const keys = await createKeys(file, pepper)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    NODE_ENV: 'production',
    KEYWARD_DATABASE_URL: `sqlite:${file}`,
    KEYWARD_PEPPER: pepper,
  }
  delete env.KEYWARD_PEPPER_FILE
  delete env.KEYWARD_REDIS_URL
  console.log(
    `bench/http: ${KEYS} keys on SQLite, ${canPin ? 'server on core 0, load generator on core 1' : 'NOT pinned (taskset or a second core missing)'}`,
  )
  for (const framework of FRAMEWORKS) await benchFramework(framework, env, keys)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
