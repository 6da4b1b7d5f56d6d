// `npm run bench -- frameworks [node|express|fastify|hono…] [open|plain|memory|redis…]`:
// keyward's adapter in each framework (the example app of examples/<framework>.ts, on SQLite
// with a warm cache) against the hand-written check of bench/references/<framework>.ts in the
// same framework, on the same routes, handlers and keys, both servers alive and loaded in
// alternation (order flipped every round). Cases:
// - `open`: GET /health, which keyward does not protect, in the app where it is registered,
//   against the same route of the reference app (no keyward at all); target >= 0.97.
// - `plain`: GET /orders with 1,000 keys without limits, against the hand-written check;
//   target >= 0.90.
// - `memory`: the same with 1,000 keys that each have one rate limit (never reached), keyward's
//   memory limiter against the reference plus its framework's common limiter keyed by key id;
//   target >= 1.0.
// - `redis`: the same on Redis (KEYWARD_REDIS_URL, else KEYWARD_TEST_REDIS_URL, else
//   redis://127.0.0.1:6379; skipped when none answers), for node:http
//   (rate-limiter-flexible's RateLimiterRedis) and Fastify (@fastify/rate-limit's Redis store);
//   target >= 1.0.
// Per case: the capacity ratio, the reference's CPU time per request over keyward's, measured
// in each server process (what the throughput ratio is when each server has its core to
// itself; on a shared machine, requests per second mostly measure which process the scheduler
// favoured in that second, CPU time per request barely moves; in the redis case, with Redis on
// this machine, the Redis server's CPU while each server was loaded is added to that server's:
// Redis shares the cores, and keyward's batching moves work off it; the servers' own ratio is
// printed beside it), then the throughput ratio
// (median of per-round ratios) and p99 beside each throughput, keyward's at most 20 % above the
// reference's; each against the case's target.
// keyward runs as users run it, compiled by tsc (into .bench-tmp/frameworks-dist, each run, the
// examples' `keyward/*` imports pointed there): run from the sources, tsx's esbuild would add a
// `__name()` property definition to every closure keyward creates per request.
// BENCH_ROUNDS (4), BENCH_SECONDS (1.5), BENCH_CONNECTIONS (16) tune the runs;
// BENCH_VERBOSE=1 prints every round; BENCH_CPU_PROF=DIR writes CPU profiles of keyward's servers (node --cpu-prof) there,
// and of the references too with BENCH_CPU_PROF_ALL=1.
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { createKeyward } from '../src/core/keyward.js'
import { openSqliteStore } from '../src/stores/sqlite/index.js'
import {
  canPin,
  cpuNs,
  type Load,
  median,
  pinLoadGenerator,
  runLoad,
  startServer,
  stopServer,
} from './lib.js'

const ROOT = join(import.meta.dirname, '..')
const ALL_FRAMEWORKS = ['node', 'express', 'fastify', 'hono'] as const
const ALL_CASES = ['open', 'plain', 'memory', 'redis'] as const
type Framework = (typeof ALL_FRAMEWORKS)[number]
type Case = (typeof ALL_CASES)[number]
const args = process.argv.slice(2)
for (const a of args)
  if (
    !(ALL_FRAMEWORKS as readonly string[]).includes(a) &&
    !(ALL_CASES as readonly string[]).includes(a)
  )
    throw new Error(
      `bench/frameworks: unknown argument ${JSON.stringify(a)}: name frameworks (${ALL_FRAMEWORKS.join(', ')}) and/or cases (${ALL_CASES.join(', ')})`,
    )
const pick = <T extends string>(all: readonly T[]): T[] => {
  const named = all.filter((x) => args.includes(x))
  return named.length > 0 ? named : [...all]
}
const FRAMEWORKS = pick(ALL_FRAMEWORKS)
const CASES = pick(ALL_CASES)
const KEYS = 1_000
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16)
const REDIS = await reachableRedis(
  process.env.KEYWARD_REDIS_URL || process.env.KEYWARD_TEST_REDIS_URL || 'redis://127.0.0.1:6379',
)
const REDIS_URL = REDIS?.url
const REDIS_PREFIX = `kw_bench_frameworks_${process.pid}`
/** The Redis server's process, when it runs on this machine and /proc shows it (else undefined). */
const REDIS_PID = REDIS?.pid
const PROFILE_DIR = process.env.BENCH_CPU_PROF
/** BENCH_VERBOSE=1 prints every round's figures. */
const VERBOSE = process.env.BENCH_VERBOSE === '1'
/** Far above what one key gets in a run, so nothing is refused: the full charge path runs. */
const BENCH_LIMIT = { name: 'default', limit: 1_000_000, windowMs: 3_600_000 }
/** Frameworks whose reference has a Redis limiter (the issue's scope). */
const REDIS_FRAMEWORKS: readonly Framework[] = ['node', 'fastify']

const TARGETS: Record<Case, number> = { open: 0.97, plain: 0.9, memory: 1.0, redis: 1.0 }
const P99_MARGIN = 1.2

/** What each reference is, for the printed lines. */
const REFERENCE: Record<Framework, { check: string; memory: string; redis?: string }> = {
  node: {
    check: 'hand-written check in the request handler',
    memory: "rate-limiter-flexible's RateLimiterMemory",
    redis: "rate-limiter-flexible's RateLimiterRedis",
  },
  express: { check: 'hand-written middleware', memory: 'express-rate-limit (memory store)' },
  fastify: {
    check: 'hand-written onRequest hook',
    memory: '@fastify/rate-limit (memory)',
    redis: "@fastify/rate-limit's Redis store",
  },
  hono: { check: 'hand-written middleware', memory: 'hono-rate-limiter (memory store)' },
}

pinLoadGenerator()

/**
 * Compiles src with tsc into .bench-tmp/frameworks-dist and writes a tsconfig that points the
 * package's entry points (package.json "exports") there; returns that tsconfig's path, for tsx
 * (TSX_TSCONFIG_PATH) in the example servers.
 */
function buildKeyward(): string {
  const out = join(ROOT, '.bench-tmp', 'frameworks-dist')
  rmSync(out, { recursive: true, force: true })
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const args = ['-p', 'tsconfig.build.json', '--outDir', out, '--declaration', 'false']
  const r = spawnSync(process.execPath, [tsc, ...args], { cwd: ROOT, stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`bench/frameworks: tsc ${args.join(' ')} failed`)
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { default: string }>
  }
  const paths: Record<string, string[]> = {}
  for (const [entry, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string' || !target.default.startsWith('./dist/')) continue
    paths[entry === '.' ? 'keyward' : `keyward/${entry.slice(2)}`] = [
      join(out, target.default.slice('./dist/'.length)),
    ]
  }
  const tsconfig = join(ROOT, '.bench-tmp', 'frameworks-tsconfig.json')
  writeFileSync(
    tsconfig,
    JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), compilerOptions: { paths } }, null, 2),
  )
  return tsconfig
}

/** 1,000 keys without limits and 1,000 with `BENCH_LIMIT`, in one SQLite file. */
async function createKeys(file: string, pepper: string) {
  const store = openSqliteStore(file)
  await store.migrate()
  const keyward = await createKeyward({ store, peppers: [{ version: 1, secret: pepper }] })
  const plain: string[] = []
  const limited: string[] = []
  const hashes: string[] = []
  const sha = (key: string) => createHash('sha256').update(key).digest('hex')
  for (let i = 0; i < KEYS; i++) {
    const own = await keyward.createKey({ name: `bench-${i}`, scopes: ['orders:read'] })
    plain.push(own.key)
    hashes.push(`${sha(own.key)}\t${own.record.id}`)
    const lim = await keyward.createKey({
      name: `bench-limited-${i}`,
      scopes: ['orders:read'],
      rateLimits: [BENCH_LIMIT],
    })
    limited.push(lim.key)
    hashes.push(`${sha(lim.key)}\t${lim.record.id}`)
  }
  await keyward.close()
  await store.close()
  return { plain, limited, hashes }
}

interface Server {
  name: string
  base: string
  pid: number | undefined
  /** The Redis server it relies on, whose CPU is counted beside its own. */
  redisPid?: number | undefined
  stop(): Promise<void>
}

async function start(name: string, file: string, env: NodeJS.ProcessEnv): Promise<Server> {
  const profile =
    PROFILE_DIR !== undefined &&
    (file.startsWith('examples/') || process.env.BENCH_CPU_PROF_ALL === '1')
      ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, name)}`]
      : []
  const { child, base } = await startServer(file, env, ROOT, profile)
  return { name, base, pid: child.pid, stop: () => stopServer(child) }
}

/** One load run on `path`, cycling `keys` through X-API-Key (a same-size pad on open routes). */
function load(
  server: Server,
  path: string,
  keys: readonly string[],
  opts: { duration?: number; amount?: number },
) {
  const header = path === '/health' ? 'x-pad' : 'x-api-key'
  let i = 0
  return runLoad(
    {
      url: server.base,
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
    },
    server.pid,
    `${server.name} ${path}`,
    server.redisPid,
  )
}

/** One comparison: keyward's server and the reference's, the route and keys they are loaded with. */
interface Pair {
  framework: Framework
  name: Case
  keyward: Server
  reference: Server
  referenceLabel: string
  path: string
  keys: readonly string[]
}

interface Outcome {
  pair: Pair
  ratio: number
  /**
   * The capacity ratio judged against the target: the reference's CPU per request over
   * keyward's; in the redis case with a local Redis, each server's CPU plus Redis's while it was
   * loaded, since both share the machine's cores and batching moves work off Redis.
   */
  cpuRatio: number | undefined
  /** The servers' own CPU alone, when cpuRatio includes Redis's. */
  serverRatio: number | undefined
  ours: Load[]
  theirs: Load[]
}

/** Median CPU per request of loads, adding the Redis server's with `withRedis`; undefined if unknown. */
function cpuPerRequest(loads: readonly Load[], withRedis = false): number | undefined {
  const each = loads.map((l) =>
    withRedis
      ? l.cpuUs === undefined || l.alsoCpuUs === undefined
        ? undefined
        : l.cpuUs + l.alsoCpuUs
      : l.cpuUs,
  )
  return each.every((x) => x !== undefined) ? median(each as number[]) : undefined
}

/** Runs the pairs' rounds, alternating keyward and reference (flipping who goes first). */
async function measure(pairs: readonly Pair[]): Promise<Outcome[]> {
  // warm-up: JIT on every route, every key through the store into keyward's cache
  for (const p of pairs)
    for (const s of [p.keyward, p.reference])
      await load(s, p.path, p.keys, { amount: 2 * p.keys.length })
  const runs = pairs.map(() => ({ ours: [] as Load[], theirs: [] as Load[] }))
  for (let r = 0; r < ROUNDS; r++)
    for (const [i, p] of pairs.entries()) {
      const ours = () => load(p.keyward, p.path, p.keys, { duration: SECONDS })
      const theirs = () => load(p.reference, p.path, p.keys, { duration: SECONDS })
      if (r % 2 === 0) {
        runs[i]!.ours.push(await ours())
        runs[i]!.theirs.push(await theirs())
      } else {
        runs[i]!.theirs.push(await theirs())
        runs[i]!.ours.push(await ours())
      }
    }
  return pairs.map((pair, i) => {
    const { ours, theirs } = runs[i]!
    if (VERBOSE)
      for (let r = 0; r < ROUNDS; r++)
        console.log(
          `        round ${r + 1} ${pair.framework} ${pair.name}: keyward ${Math.round(ours[r]!.rps)} req/s ${ours[r]!.cpuUs?.toFixed(1)} µs p99 ${ours[r]!.p99Ms.toFixed(1)} ms; reference ${Math.round(theirs[r]!.rps)} req/s ${theirs[r]!.cpuUs?.toFixed(1)} µs p99 ${theirs[r]!.p99Ms.toFixed(1)} ms`,
        )
    const ratioOf = (withRedis: boolean) => {
      const [co, ct] = [cpuPerRequest(ours, withRedis), cpuPerRequest(theirs, withRedis)]
      return co === undefined || ct === undefined ? undefined : ct / co
    }
    const withRedis = pair.name === 'redis' ? ratioOf(true) : undefined
    return {
      pair,
      ours,
      theirs,
      ratio: median(ours.map((o, r) => o.rps / theirs[r]!.rps)),
      cpuRatio: withRedis ?? ratioOf(false),
      serverRatio: withRedis === undefined ? undefined : ratioOf(false),
    }
  })
}

/** One case's verdicts: capacity (CPU per request), throughput and p99. */
interface Result {
  framework: Framework
  name: Case
  target: number
  cpuRatio: number | undefined
  ratio: number
  p99Over: number
}
const results: Result[] = []

const verdict = (ratio: number, target: number) =>
  `${ratio.toFixed(2)} (target >= ${target.toFixed(2)}: ${ratio >= target ? 'met' : 'MISSED'})`

/**
 * Two lines per case: the capacity ratio (the reference's CPU time per request over keyward's,
 * what the throughput ratio is when each server has its core to itself) and the throughput
 * ratio measured, each against the target, then p99 beside each throughput.
 */
function report(o: Outcome): void {
  const { pair } = o
  const target = TARGETS[pair.name]
  const p99 = (l: Load[]) => median(l.map((x) => x.p99Ms))
  const rps = (l: Load[]) => Math.round(median(l.map((x) => x.rps))).toLocaleString('en-US')
  const [po, pt] = [p99(o.ours), p99(o.theirs)]
  const over = po / pt - 1
  const what: Record<Case, string> = {
    open: 'open GET /health, keyward registered vs not',
    plain: 'GET /orders, keys without limits',
    memory: 'GET /orders, one memory limit per key',
    redis: 'GET /orders, one Redis limit per key',
  }
  const [co, ct] = [cpuPerRequest(o.ours), cpuPerRequest(o.theirs)]
  let cpuText: string
  if (o.cpuRatio === undefined) cpuText = 'CPU per request: not measurable here (Linux only)'
  else if (o.serverRatio === undefined)
    cpuText = `CPU per request ${verdict(o.cpuRatio, target)}, keyward ${co!.toFixed(1)} µs, reference ${ct!.toFixed(1)} µs`
  else {
    const [ro, rt] = [cpuPerRequest(o.ours, true)! - co!, cpuPerRequest(o.theirs, true)! - ct!]
    cpuText = `CPU per request, server + Redis ${verdict(o.cpuRatio, target)}, keyward ${co!.toFixed(1)} + ${ro.toFixed(1)} µs, reference ${ct!.toFixed(1)} + ${rt.toFixed(1)} µs (the servers alone ${o.serverRatio.toFixed(2)})`
  }
  console.log(`${pair.framework.padEnd(7)} ${what[pair.name]}, vs ${pair.referenceLabel}`)
  console.log(
    `        ${cpuText}; throughput ${verdict(o.ratio, target)}, keyward ${rps(o.ours)} req/s p99 ${po.toFixed(2)} ms, reference ${rps(o.theirs)} req/s p99 ${pt.toFixed(2)} ms (p99 ${over >= 0 ? '+' : ''}${(over * 100).toFixed(0)} %, target <= +20 %: ${over <= P99_MARGIN - 1 ? 'met' : 'MISSED'})`,
  )
  results.push({
    framework: pair.framework,
    name: pair.name,
    target,
    cpuRatio: o.cpuRatio,
    ratio: o.ratio,
    p99Over: over,
  })
}

/** The summary: which cases met their target by each measure. */
function summary(seconds: number): void {
  const line = (label: string, missed: Result[], of: number, show: (r: Result) => string) =>
    `  ${label}: ${of - missed.length} of ${of} met${missed.length > 0 ? `; missed: ${missed.map((r) => `${r.framework} ${r.name} ${show(r)}`).join(', ')}` : ''}`
  const withCpu = results.filter((r) => r.cpuRatio !== undefined)
  console.log(`bench/frameworks summary (${seconds} s):`)
  if (withCpu.length > 0)
    console.log(
      line(
        'CPU per request',
        withCpu.filter((r) => r.cpuRatio! < r.target),
        withCpu.length,
        (r) => r.cpuRatio!.toFixed(2),
      ),
    )
  console.log(
    line(
      'throughput',
      results.filter((r) => r.ratio < r.target),
      results.length,
      (r) => r.ratio.toFixed(2),
    ),
  )
  console.log(
    line(
      'p99 within +20 %',
      results.filter((r) => r.p99Over > P99_MARGIN - 1),
      results.length,
      (r) => `+${(r.p99Over * 100).toFixed(0)} %`,
    ),
  )
}

const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-frameworks-'))
const servers: Server[] = []
const started = async (name: string, file: string, env: NodeJS.ProcessEnv) => {
  const s = await start(name, file, env)
  servers.push(s)
  return s
}
const t0 = Date.now()
try {
  if (PROFILE_DIR !== undefined) mkdirSync(PROFILE_DIR, { recursive: true })
  const built = Date.now()
  const tsconfig = buildKeyward()
  const buildSeconds = ((Date.now() - built) / 1000).toFixed(0)
  const pepper = randomBytes(36).toString('base64')
  const file = join(dir, 'keyward.db')
  const keys = await createKeys(file, pepper)
  const hashesFile = join(dir, 'hashes.tsv')
  writeFileSync(hashesFile, keys.hashes.join('\n'), { mode: 0o600 })
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    NODE_ENV: 'production',
    KEYWARD_DATABASE_URL: `sqlite:${file}`,
    KEYWARD_PEPPER: pepper,
    BENCH_KEY_HASHES: hashesFile,
    TSX_TSCONFIG_PATH: tsconfig,
  }
  for (const name of [
    'KEYWARD_PEPPER_FILE',
    'KEYWARD_JWKS_URL',
    'KEYWARD_TOKEN_ISSUER',
    'KEYWARD_REDIS_URL',
    'KEYWARD_REDIS_PREFIX',
    'BENCH_REFERENCE_LIMIT',
  ])
    delete env[name]
  console.log(
    `bench/frameworks: keyward's example app vs a hand-written reference in the same framework; ${KEYS} keys (SQLite, warm cache), autocannon ${CONNECTIONS} connections, ${ROUNDS} rounds x ${SECONDS} s alternating, ${canPin ? 'servers on core 0, load generator on core 1' : 'NOT pinned (taskset or a second core missing)'}; keyward compiled by tsc (${buildSeconds} s); ratios keyward / reference (CPU: reference µs / keyward µs per request)`,
  )
  for (const framework of FRAMEWORKS) {
    const example = `examples/${framework}.ts`
    const referenceFile = `bench/references/${framework}.ts`
    const ref = REFERENCE[framework]
    const pairs: Pair[] = []
    const local = CASES.filter((c) => c !== 'redis')
    if (local.length > 0) {
      const kw = await started(`${framework}-keyward`, example, env)
      const plainRef = local.some((c) => c === 'open' || c === 'plain')
        ? await started(`${framework}-reference`, referenceFile, env)
        : undefined
      if (CASES.includes('open'))
        pairs.push({
          framework,
          name: 'open',
          keyward: kw,
          reference: plainRef!,
          referenceLabel: `the same app without keyward (${referenceFile}, GET /health)`,
          path: '/health',
          keys: keys.plain,
        })
      if (CASES.includes('plain'))
        pairs.push({
          framework,
          name: 'plain',
          keyward: kw,
          reference: plainRef!,
          referenceLabel: `${referenceFile} (${ref.check}: SHA-256 in a Map)`,
          path: '/orders',
          keys: keys.plain,
        })
      if (CASES.includes('memory')) {
        const memRef = await started(`${framework}-reference-memory`, referenceFile, {
          ...env,
          BENCH_REFERENCE_LIMIT: 'memory',
        })
        pairs.push({
          framework,
          name: 'memory',
          keyward: kw,
          reference: memRef,
          referenceLabel: `${referenceFile} + ${ref.memory}`,
          path: '/orders',
          keys: keys.limited,
        })
      }
    }
    if (CASES.includes('redis') && REDIS_FRAMEWORKS.includes(framework)) {
      if (REDIS_URL === undefined)
        console.log(
          `${framework.padEnd(7)} redis: skipped (no Redis answered: set KEYWARD_REDIS_URL)`,
        )
      else {
        const kw = await started(`${framework}-keyward-redis`, example, {
          ...env,
          KEYWARD_REDIS_URL: REDIS_URL,
          KEYWARD_REDIS_PREFIX: REDIS_PREFIX,
        })
        const redisRef = await started(`${framework}-reference-redis`, referenceFile, {
          ...env,
          BENCH_REFERENCE_LIMIT: 'redis',
          KEYWARD_REDIS_URL: REDIS_URL,
          BENCH_REFERENCE_NAMESPACE: `${REDIS_PREFIX}:ref-`,
        })
        kw.redisPid = REDIS_PID
        redisRef.redisPid = REDIS_PID
        pairs.push({
          framework,
          name: 'redis',
          keyward: kw,
          reference: redisRef,
          referenceLabel: `${referenceFile} + ${ref.redis}`,
          path: '/orders',
          keys: keys.limited,
        })
      }
    }
    for (const o of await measure(pairs)) report(o)
    while (servers.length > 0) await servers.pop()!.stop()
  }
  if (results.length > 1) summary(Math.round((Date.now() - t0) / 1000))
  if (PROFILE_DIR !== undefined) console.log(`CPU profiles of keyward's servers in ${PROFILE_DIR}`)
} finally {
  for (const s of servers) await s.stop()
  rmSync(dir, { recursive: true, force: true })
  if (REDIS_URL !== undefined && CASES.includes('redis')) await dropRedisKeys(REDIS_URL)
}

/**
 * The URL when a Redis answers there within a second, else undefined (the redis case is
 * skipped); with the Redis server's pid when it runs on this machine (`INFO server`'s process_id
 * names a redis-server process in /proc): a remote Redis's pid means nothing here.
 */
async function reachableRedis(
  url: string,
): Promise<{ url: string; pid: number | undefined } | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
    return { url, pid: await localPid(client, url) }
  } catch {
    return undefined
  } finally {
    client.disconnect()
  }
}

async function localPid(client: Redis, url: string): Promise<number | undefined> {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname)) return undefined
  try {
    const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1])
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8')
    return comm.startsWith('redis-server') && cpuNs(pid) !== undefined ? pid : undefined
  } catch {
    return undefined
  }
}

/** Removes what the redis case wrote (it would expire anyway). */
async function dropRedisKeys(url: string): Promise<void> {
  const client = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `${REDIS_PREFIX}*`, 'COUNT', 1000)
      cursor = next
      if (found.length > 0) await client.unlink(...found)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}
