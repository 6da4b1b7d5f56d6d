// `npm run bench:http`: per framework, the example's open GET /health (the ceiling) against its
// protected GET /orders with 1,000 distinct keys cycled by the load generator, on a SQLite
// store with a warm cache. The two alternate several times in one run; the server and the
// load generator are pinned to different cores when taskset is available. Prints ratios and
// p99 latencies only: absolute rates on shared machines mean little.
//
// Four cases per framework (BENCH_CASES, default all): `plain` keys without limits; `jwt`, the
// same route called with `Authorization: Bearer <access token>` (1,000 tokens signed by keyward
// for those keys, the example accepting them with its key set fetched once from a JWKS URL this
// process serves, so verified tokens come from its cache), printed also as a ratio to `plain`
// (target >= 0.9); `memory` and `redis` keys that each have a rate limit high enough never to
// refuse during the run, on the example's memory limiter or on Redis (KEYWARD_REDIS_URL, else
// KEYWARD_TEST_REDIS_URL; skipped without one), so the ratio shows what limiting costs. With
// Fastify, the hand-written hook of bench/reference-fastify.ts runs the key cases too (with
// @fastify/rate-limit per key id for `memory` and `redis`), for scale.
// `usage`: the plain keys against a server with usage analytics on (per key, minute, outcome
// and route), while the other cases run with them off; printed as its protected/open ratio
// divided by plain's (target >= 0.95). Then the bytes usage writes to SQLite per million
// verifications, with and without analytics, measured in this process on a fresh file: a
// million cached verifications over the 1,000 keys at the usage case's rate on a simulated
// clock, flushed every 10 s of it (keyward's default), the WAL's growth counted with automatic
// checkpoints off (a checkpoint later copies those pages into the database file once more).
// `npm run bench:http -- fastify` runs one framework.
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon, { type AutocannonResult } from 'autocannon'
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import { createKeyward } from '../src/core/keyward.js'
import { createSqliteStore, openSqliteStore } from '../src/stores/sqlite/index.js'
import { createTokenSigner } from '../src/tokens/signer.js'
import { canPin, cpuNs, pinLoadGenerator, startServer, stopServer } from './lib.js'

const ROOT = join(import.meta.dirname, '..')
const FRAMEWORKS = (
  process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['fastify', 'node', 'express', 'hono']
) as string[]
const KEYS = 1_000
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16)
const CASES = (process.env.BENCH_CASES ?? 'plain,jwt,memory,redis,usage').split(',') as Case[]
const REDIS_URL = process.env.KEYWARD_REDIS_URL || process.env.KEYWARD_TEST_REDIS_URL || undefined
const REDIS_PREFIX = `kw_bench_http_${process.pid}`
/** Far above what one key gets in a run (about 1,000 requests), so nothing is refused. */
const BENCH_LIMIT = { name: 'default', limit: 1_000_000, windowMs: 3_600_000 }

type Case = 'plain' | 'jwt' | 'memory' | 'redis' | 'usage'

const MILLION = 1_000_000
/** keyward's default usage flush interval. */
const FLUSH_MS = 10_000
/** The audience of the bench's tokens: the example, as keyward serve would know it. */
const TOKEN_AUDIENCE = 'http://orders.bench.example'

pinLoadGenerator()

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * 1,000 keys without limits, an hour-long access token for each (signed by keyward's signer
 * on the same file, `iss` = `issuer`), and 1,000 keys with `BENCH_LIMIT`, in one SQLite file.
 */
async function createKeys(
  file: string,
  pepper: string,
  jwks: { issuer: string; serve(set: unknown): void },
): Promise<{ plain: string[]; tokens: string[]; limited: string[] }> {
  const store = openSqliteStore(file)
  await store.migrate()
  const peppers = [{ version: 1, secret: pepper }]
  const keyward = await createKeyward({ store, peppers })
  const signer = await createTokenSigner({ store, secrets: { peppers }, issuer: jwks.issuer })
  jwks.serve(signer.jwks())
  const plain: string[] = []
  const tokens: string[] = []
  const limited: string[] = []
  for (let i = 0; i < KEYS; i++) {
    const own = await keyward.createKey({ name: `bench-${i}`, scopes: ['orders:read'] })
    plain.push(own.key)
    const issued = await signer.issueAccessToken({
      keyId: own.record.id,
      scopes: ['orders:read'],
      audience: TOKEN_AUDIENCE,
      lifetimeSec: 3600,
    })
    tokens.push(`Bearer ${issued.token}`)
    const created = await keyward.createKey({
      name: `bench-limited-${i}`,
      scopes: ['orders:read'],
      rateLimits: [BENCH_LIMIT],
    })
    limited.push(created.key)
  }
  signer.close()
  await keyward.close()
  await store.close()
  return { plain, tokens, limited }
}

/** Serves a key set at /.well-known/jwks.json, as keyward serve does; counts the fetches. */
async function jwksServer(): Promise<{
  server: Server
  issuer: string
  fetches: () => number
  serve(set: unknown): void
}> {
  let body = '{"keys":[]}'
  let fetches = 0
  const server = createServer((_req, res) => {
    fetches++
    res.setHeader('content-type', 'application/json')
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fetches: () => fetches,
    serve(set) {
      body = JSON.stringify(set)
    },
  }
}

function startExample(framework: string, env: NodeJS.ProcessEnv) {
  const file = framework === 'reference' ? 'bench/reference-fastify.ts' : `examples/${framework}.ts`
  return startServer(file, env, ROOT)
}

/** What one load run measured. */
interface LoadResult {
  rps: number
  p99Ms: number
  bad: number
  /** Requests completed. */
  requests: number
  /** The server's CPU time per request (µs), when Linux tells it (set by benchFramework). */
  cpuUs?: number
}

/**
 * wrk (Debian's `wrk`) when it is installed: written in C, it saturates the server from one
 * core, so the ratio measures the server. autocannon otherwise; it runs in JavaScript and can
 * itself be the bottleneck, which pushes every ratio towards 1 (the header line says which).
 * BENCH_LOADGEN=autocannon picks autocannon even when wrk is there.
 */
const HAS_WRK =
  process.env.BENCH_LOADGEN !== 'autocannon' &&
  spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error === undefined

/** One load run; both routes get a header of the same size so the generator's work is equal. */
async function load(
  base: string,
  path: string,
  header: string,
  keys: readonly string[],
  opts: { duration?: number; amount?: number },
): Promise<LoadResult> {
  if (HAS_WRK && opts.duration !== undefined) return wrk(base + path, header, keys, opts.duration)
  let i = 0
  const result: AutocannonResult = await autocannon({
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
  return {
    rps: result.requests.average,
    p99Ms: result.latency.p99,
    bad: result.non2xx + result.errors + result.timeouts,
    requests: result.requests.total,
  }
}

const wrkScripts = new Map<string, string>()

/** Runs wrk with a Lua script that cycles through the keys; parses its summary. */
async function wrk(url: string, header: string, keys: readonly string[], seconds: number) {
  const id = `${header}:${keys[0]}`
  let script = wrkScripts.get(id)
  if (script === undefined) {
    script = join(dir, `wrk-${wrkScripts.size}.lua`)
    const list = keys.map((k) => `"${k}"`).join(',')
    writeFileSync(
      script,
      `local keys = {${list}}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(nil, nil, { ["${header}"] = keys[(i % #keys) + 1] })\nend\n`,
    )
    wrkScripts.set(id, script)
  }
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, url]
  const command = canPin ? ['taskset', '-c', '1', 'wrk', ...args] : ['wrk', ...args]
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk
  })
  await new Promise((resolve) => child.once('exit', resolve))
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out)
  if (!rps || !p99) throw new Error(`wrk printed no summary:\n${out}`)
  const scale = p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1
  const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const errorCount = errors ? errors.slice(1).reduce((n, x) => n + Number(x), 0) : 0
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)
  return { rps: Number(rps[1]), p99Ms: Number(p99[1]) * scale, bad: bad + errorCount, requests }
}

function check(result: LoadResult, what: string): void {
  if (result.bad > 0) throw new Error(`${what}: ${result.bad} failed or non-2xx responses`)
}

/**
 * Starts one server and, each round, measures its open route and then every case's protected
 * route (cases that share a server, like plain and memory keys, share its ceiling: two server
 * processes of the same code can differ by 20 % on the open route alone).
 */
async function benchFramework(
  framework: string,
  env: NodeJS.ProcessEnv,
  cases: readonly { name: Case; keys: string[] }[],
) {
  const { child, base } = await startExample(framework, env)
  // keys go in X-API-Key; the jwt case's values are whole `Bearer <token>` lines
  const headerOf = (c: Case) => (c === 'jwt' ? 'authorization' : 'x-api-key')
  /** A timed run, with the server's CPU time per request. */
  const measured = async (...args: Parameters<typeof load>): Promise<LoadResult> => {
    const before = cpuNs(child.pid)
    const result = await load(...args)
    const after = cpuNs(child.pid)
    if (before === undefined || after === undefined || result.requests === 0) return result
    return { ...result, cpuUs: (after - before) / 1000 / result.requests }
  }
  try {
    // warm-up: JIT on both routes, every key once through the store into the cache, every
    // token's signature checked once into the verified-token cache
    const all = cases.flatMap((c) => c.keys)
    check(await load(base, '/health', 'x-pad', all, { amount: 2 * all.length }), 'warm-up /health')
    for (const c of cases)
      check(
        await load(base, '/orders', headerOf(c.name), c.keys, { amount: 2 * c.keys.length }),
        `warm-up /orders (${c.name})`,
      )
    const open: LoadResult[] = []
    const protectedRuns = cases.map(() => [] as LoadResult[])
    for (let r = 0; r < ROUNDS; r++) {
      const o = await load(base, '/health', 'x-pad', cases[0]!.keys, { duration: SECONDS })
      check(o, '/health')
      open.push(o)
      for (const [i, c] of cases.entries()) {
        const p = await measured(base, '/orders', headerOf(c.name), c.keys, { duration: SECONDS })
        check(p, `/orders (${c.name})`)
        protectedRuns[i]!.push(p)
      }
    }
    const openRate = median(open.map((o) => o.rps))
    const openP99 = median(open.map((o) => o.p99Ms))
    const plainAt = cases.findIndex((c) => c.name === 'plain')
    for (const [i, c] of cases.entries()) {
      const runs = protectedRuns[i]!
      const ratio = median(runs.map((p, r) => p.rps / open[r]!.rps))
      const protRate = median(runs.map((p) => p.rps))
      const protP99 = median(runs.map((p) => p.p99Ms))
      // the jwt case against the plain keys of the same rounds (the issue's target)
      const versusPlain =
        c.name === 'jwt' && plainAt >= 0
          ? median(runs.map((p, r) => p.rps / protectedRuns[plainAt]![r]!.rps))
          : undefined
      const cpu = (at: number) => {
        const values = protectedRuns[at]!.map((p) => p.cpuUs)
        return values.every((v) => v !== undefined) ? median(values as number[]) : undefined
      }
      const [cpuJwt, cpuPlain] = versusPlain === undefined ? [] : [cpu(i), cpu(plainAt)]
      const cpuText =
        cpuJwt === undefined || cpuPlain === undefined
          ? ''
          : `; CPU per request ${cpuJwt.toFixed(1)} vs ${cpuPlain.toFixed(1)} µs (ratio ${(cpuPlain / cpuJwt).toFixed(2)})`
      const target =
        versusPlain === undefined
          ? ''
          : `   jwt/plain ${versusPlain.toFixed(2)} (target >= 0.9${versusPlain < 0.9 ? ', MISSED' : ''})${cpuText}`
      console.log(
        `${(framework === 'reference' ? (c.name === 'plain' ? 'hand-written fastify hook' : 'hand-written hook + @fastify/rate-limit') : framework).padEnd(8)} ${c.name.padEnd(6)} protected/open ${ratio.toFixed(2)}   p99 open ${openP99.toFixed(1)} ms, protected ${protP99.toFixed(1)} ms   (${Math.round(protRate)} vs ${Math.round(openRate)} req/s, ${ROUNDS}x${SECONDS}s alternating, ${CONNECTIONS} connections)${target}`,
      )
    }
  } finally {
    await stopServer(child)
  }
}

const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-http-'))
const jwks = await jwksServer()
try {
  const pepper = randomBytes(36).toString('base64')
  const file = join(dir, 'keyward.db')
  const keys = await createKeys(file, pepper, jwks)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    NODE_ENV: 'production',
    KEYWARD_DATABASE_URL: `sqlite:${file}`,
    KEYWARD_PEPPER: pepper,
    // the examples accept keyward's access tokens beside keys (examples/shared.ts)
    KEYWARD_TOKEN_ISSUER: jwks.issuer,
    KEYWARD_TOKEN_AUDIENCE: TOKEN_AUDIENCE,
  }
  delete env.KEYWARD_PEPPER_FILE
  delete env.KEYWARD_JWKS_URL
  delete env.KEYWARD_REDIS_URL
  delete env.KEYWARD_REDIS_PREFIX
  console.log(
    `bench/http: ${KEYS} keys on SQLite, load from ${HAS_WRK ? 'wrk' : 'autocannon (install wrk for a load generator that saturates the server)'}, ${canPin ? 'server on core 0, load generator on core 1' : 'NOT pinned (taskset or a second core missing)'}; cases ${CASES.join(', ')} (memory/redis: every key limited to ${BENCH_LIMIT.limit}/${BENCH_LIMIT.windowMs / 60_000}min, never reached)`,
  )
  if (FRAMEWORKS.includes('fastify')) {
    // the hand-written hook, for scale (see bench/reference-fastify.ts): alone for `plain`, with
    // @fastify/rate-limit per key id for `memory` and `redis`
    const hashes = join(dir, 'hashes.txt')
    writeFileSync(
      hashes,
      keys.plain.map((k) => createHash('sha256').update(k).digest('hex')).join('\n'),
    )
    const reference = { ...env, BENCH_KEY_HASHES: hashes }
    for (const c of CASES) {
      if (c === 'jwt' || c === 'usage' || (c === 'redis' && REDIS_URL === undefined)) continue
      const limitEnv =
        c === 'plain'
          ? {}
          : c === 'memory'
            ? { BENCH_REFERENCE_LIMIT: 'memory' }
            : {
                BENCH_REFERENCE_LIMIT: 'redis',
                KEYWARD_REDIS_URL: REDIS_URL,
                BENCH_REFERENCE_NAMESPACE: `${REDIS_PREFIX}:ref-`,
              }
      await benchFramework('reference', { ...reference, ...limitEnv }, [
        { name: c, keys: keys.plain },
      ])
    }
  }
  for (const framework of FRAMEWORKS) {
    // plain keys, their tokens and memory keys run against one server (the same example, the
    // same ceiling)
    const local = [
      ...(CASES.includes('plain') ? [{ name: 'plain' as const, keys: keys.plain }] : []),
      ...(CASES.includes('jwt') ? [{ name: 'jwt' as const, keys: keys.tokens }] : []),
      ...(CASES.includes('memory') ? [{ name: 'memory' as const, keys: keys.limited }] : []),
    ]
    // the key cases without usage analytics; `usage` is the plain keys with them on
    const plainEnv = { ...env, KEYWARD_USAGE_ANALYTICS: 'off' }
    if (local.length > 0) await benchFramework(framework, plainEnv, local)
    if (CASES.includes('usage')) await benchUsage(framework, plainEnv, env, keys.plain)
    if (!CASES.includes('redis')) continue
    if (REDIS_URL === undefined) {
      console.log(`${framework.padEnd(8)} redis  skipped: set KEYWARD_REDIS_URL`)
      continue
    }
    const redisEnv = {
      ...plainEnv,
      KEYWARD_REDIS_URL: REDIS_URL,
      KEYWARD_REDIS_PREFIX: REDIS_PREFIX,
    }
    await benchFramework(framework, redisEnv, [{ name: 'redis', keys: keys.limited }])
  }
  console.log(`JWKS fetched ${jwks.fetches()} times in all (once per example server)`)
} finally {
  jwks.server.close()
  rmSync(dir, { recursive: true, force: true })
  if (REDIS_URL !== undefined && CASES.includes('redis')) await dropRedisKeys(REDIS_URL)
}

/**
 * The usage case: two servers of the example, analytics off and on, measured in turns within
 * each round (open, then protected, on one and then the other), so that the machine's load
 * changes hit both alike. Prints the median of the per-round (on/off) ratios of protected/open,
 * the servers' CPU time per protected request, then the bytes written per million.
 */
async function benchUsage(
  framework: string,
  offEnv: NodeJS.ProcessEnv,
  onEnv: NodeJS.ProcessEnv,
  keys: string[],
): Promise<void> {
  const off = await startExample(framework, offEnv)
  const on = await startExample(framework, onEnv)
  try {
    for (const server of [off, on]) {
      check(
        await load(server.base, '/health', 'x-pad', keys, { amount: 2 * keys.length }),
        'warm-up',
      )
      check(
        await load(server.base, '/orders', 'x-api-key', keys, { amount: 2 * keys.length }),
        'warm-up',
      )
    }
    const ratios: number[] = []
    const cpu: [number[], number[]] = [[], []]
    const rates: [number[], number[]] = [[], []]
    for (let r = 0; r < ROUNDS; r++) {
      const pair: number[] = []
      for (const [i, server] of [off, on].entries()) {
        const o = await load(server.base, '/health', 'x-pad', keys, { duration: SECONDS })
        check(o, '/health')
        const before = cpuNs(server.child.pid)
        const p = await load(server.base, '/orders', 'x-api-key', keys, { duration: SECONDS })
        const after = cpuNs(server.child.pid)
        check(p, `/orders (usage ${i === 1 ? 'on' : 'off'})`)
        if (before !== undefined && after !== undefined)
          cpu[i]!.push((after - before) / 1000 / p.requests)
        rates[i]!.push(p.rps)
        pair.push(p.rps / o.rps)
      }
      ratios.push(pair[1]! / pair[0]!)
    }
    const ratio = median(ratios)
    const cpuText =
      cpu[0].length === ROUNDS && cpu[1].length === ROUNDS
        ? `; CPU per request ${median(cpu[1]).toFixed(1)} µs with analytics vs ${median(cpu[0]).toFixed(1)} µs without (ratio ${(median(cpu[0]) / median(cpu[1])).toFixed(2)})`
        : ''
    console.log(
      `${framework.padEnd(8)} usage  (protected/open with analytics) / (without) ${ratio.toFixed(2)} (target >= 0.95${ratio < 0.95 ? ', MISSED' : ''})${cpuText}   (${Math.round(median(rates[1]))} vs ${Math.round(median(rates[0]))} protected req/s, ${ROUNDS}x${SECONDS}s alternating, ${CONNECTIONS} connections)`,
    )
    const rate = Math.round(median(rates[1]))
    const withAnalytics = await usageWrites(keys.length, rate, true)
    const without = await usageWrites(keys.length, rate, false)
    const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`
    console.log(
      `${framework.padEnd(8)} usage  SQLite bytes written per million verifications at ${rate} req/s over ${keys.length} keys (WAL growth, 10 s flushes): ${mb(withAnalytics)} with analytics, ${mb(without)} without`,
    )
  } finally {
    await stopServer(off.child)
    await stopServer(on.child)
  }
}

/**
 * Bytes appended to a fresh SQLite file's WAL by a million verifications of `keyCount` keys
 * at `rate` per second (a simulated clock; every 10 s of it a flush, as keyward's timer would),
 * from 250 client addresses, with or without analytics. Automatic checkpoints are off while it
 * runs, so that the WAL only grows.
 */
async function usageWrites(keyCount: number, rate: number, analytics: boolean): Promise<number> {
  const file = join(dir, `usage-${analytics ? 'on' : 'off'}.db`)
  const db = new Database(file)
  const store = createSqliteStore({ db })
  await store.migrate()
  const clock = { t: Date.UTC(2026, 0, 1), now: () => clock.t }
  const keyward = await createKeyward({
    store,
    peppers: [{ version: 1, secret: 'bench-usage-writes-pepper-0123456789abcdef' }],
    clock,
    // flushed by hand on the simulated clock; the cache outlives the simulated run
    usageFlushIntervalMs: 3_600_000,
    cache: { ttlMs: 86_400_000 },
    usage: { analytics },
  })
  const secrets: string[] = []
  for (let i = 0; i < keyCount; i++)
    secrets.push((await keyward.createKey({ name: `w-${i}`, scopes: ['orders:read'] })).key)
  const ips = Array.from({ length: 250 }, (_, i) => `198.51.100.${i}`)
  const scopes = ['orders:read']
  for (const key of secrets) await keyward.verify(key, { scopes })
  await keyward.verifier.flush()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.pragma('wal_autocheckpoint = 0')
  const before = statSync(`${file}-wal`).size
  const stepMs = 1000 / rate
  let nextFlush = clock.t + FLUSH_MS
  let t = clock.t
  for (let i = 0; i < MILLION; i++) {
    t += stepMs
    clock.t = Math.floor(t)
    const options = { scopes, ip: ips[i % ips.length]!, usageTag: '/orders' }
    const result = keyward.verifyCached(secrets[i % keyCount]!, options)
    if (result?.ok !== true) throw new Error('bench: a cached verification did not pass')
    if (clock.t >= nextFlush) {
      await keyward.verifier.flush()
      nextFlush += FLUSH_MS
    }
  }
  await keyward.verifier.flush()
  const written = statSync(`${file}-wal`).size - before
  await keyward.close()
  await store.close()
  return written
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
