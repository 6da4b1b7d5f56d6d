// `npm run bench:http`: per framework, the example's open GET /health (the ceiling) against its
// protected GET /orders with 1,000 distinct keys cycled by the load generator, on a SQLite
// store with a warm cache. The two alternate several times in one run; the server and the
// load generator are pinned to different cores when taskset is available. Prints ratios and
// p99 latencies only: absolute rates on shared machines mean little.
//
// Three cases per framework (BENCH_CASES, default all): `plain` keys without limits; `memory`
// and `redis` keys that each have a rate limit high enough never to refuse during the run, on
// the example's memory limiter or on Redis (KEYWARD_REDIS_URL, else KEYWARD_TEST_REDIS_URL;
// skipped without one), so the ratio shows what limiting costs.
// `npm run bench:http -- fastify` runs one framework.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon, { type AutocannonResult } from 'autocannon'
import { Redis } from 'ioredis'
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
const CASES = (process.env.BENCH_CASES ?? 'plain,memory,redis').split(',') as Case[]
const REDIS_URL = process.env.KEYWARD_REDIS_URL || process.env.KEYWARD_TEST_REDIS_URL || undefined
const REDIS_PREFIX = `kw_bench_http_${process.pid}`
/** Far above what one key gets in a run (about 1,000 requests), so nothing is refused. */
const BENCH_LIMIT = { name: 'default', limit: 1_000_000, windowMs: 3_600_000 }

type Case = 'plain' | 'memory' | 'redis'

const canPin =
  availableParallelism() >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0
if (canPin) spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' })

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** 1,000 keys without limits and 1,000 with `BENCH_LIMIT`, in one SQLite file. */
async function createKeys(
  file: string,
  pepper: string,
): Promise<{ plain: string[]; limited: string[] }> {
  const store = openSqliteStore(file)
  await store.migrate()
  const keyward = await createKeyward({ store, peppers: [{ version: 1, secret: pepper }] })
  const plain: string[] = []
  const limited: string[] = []
  for (let i = 0; i < KEYS; i++) {
    plain.push((await keyward.createKey({ name: `bench-${i}`, scopes: ['orders:read'] })).key)
    const created = await keyward.createKey({
      name: `bench-limited-${i}`,
      scopes: ['orders:read'],
      rateLimits: [BENCH_LIMIT],
    })
    limited.push(created.key)
  }
  await keyward.close()
  await store.close()
  return { plain, limited }
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

async function benchFramework(
  framework: string,
  benchCase: Case,
  env: NodeJS.ProcessEnv,
  keys: string[],
) {
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
      `${framework.padEnd(8)} ${benchCase.padEnd(6)} protected/open ${ratio.toFixed(2)}   p99 open ${openP99.toFixed(1)} ms, protected ${protP99.toFixed(1)} ms   (${Math.round(protRate)} vs ${Math.round(openRate)} req/s, ${ROUNDS}x${SECONDS}s alternating, ${CONNECTIONS} connections)`,
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
  delete env.KEYWARD_REDIS_PREFIX
  console.log(
    `bench/http: ${KEYS} keys on SQLite, ${canPin ? 'server on core 0, load generator on core 1' : 'NOT pinned (taskset or a second core missing)'}; cases ${CASES.join(', ')} (memory/redis: every key limited to ${BENCH_LIMIT.limit}/${BENCH_LIMIT.windowMs / 60_000}min, never reached)`,
  )
  for (const framework of FRAMEWORKS) {
    for (const benchCase of CASES) {
      if (benchCase === 'plain') await benchFramework(framework, 'plain', env, keys.plain)
      else if (benchCase === 'memory') await benchFramework(framework, 'memory', env, keys.limited)
      else if (REDIS_URL === undefined)
        console.log(`${framework.padEnd(8)} redis  skipped: set KEYWARD_REDIS_URL`)
      else {
        const redisEnv = {
          ...env,
          KEYWARD_REDIS_URL: REDIS_URL,
          KEYWARD_REDIS_PREFIX: REDIS_PREFIX,
        }
        await benchFramework(framework, 'redis', redisEnv, keys.limited)
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
  if (REDIS_URL !== undefined && CASES.includes('redis')) await dropRedisKeys(REDIS_URL)
}

/** Removes what the redis case wrote (it would expire anyway). */
async function dropRedisKeys(url: string): Promise<void> {
  const client = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `${REDIS_PREFIX}:*`, 'COUNT', 1000)
      cursor = next
      if (found.length > 0) await client.unlink(...found)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}
