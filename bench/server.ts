// `npm run bench:server`: the service's verify API (POST /v1/keys/verify, its caller
// authenticated with a keys:verify key) in one run against
//   - the same server's GET /healthz (target >= 0.6), 1,000 keys on SQLite, warm cache; and the
//     token endpoint (POST /oauth/token, the 1,000 keys in X-API-Key in turn: each request
//     verifies a cached key and signs an EdDSA token) against the same /healthz (no target);
//   - bench/references/fastify-verify.ts, the verify route written by hand with Fastify (sha256
//     in a Map, the same JSON), started in the same run (target >= 0.9);
//   - cold: the cache off, BENCH_COLD_KEYS keys (default 1,000,000) in the SQLite file, 1,000 of
//     them in use, against that server's GET /healthz (no target: it shows what the store costs).
//     The file is filled by bench/verify-fill.ts in a child process once per size and kept in
//     .bench-tmp/ for later runs.
// Each set of runs alternates BENCH_ROUNDS times (default 4) for BENCH_SECONDS each (default 3)
// under autocannon (BENCH_CONNECTIONS, default 16), servers on core 0 and the load generator on
// core 1 when taskset is there. Each line gives the median of per-round throughput ratios, p50 and
// p99 latency, and (on Linux) the server's CPU time per request, which neighbours on a shared
// machine barely move: its inverse ratio is the throughput ratio of a server alone on its core.
// The service runs with its metrics on and without a request log (the reference logs nothing).
// Shorter runs: BENCH_ROUNDS=2 BENCH_SECONDS=2 BENCH_COLD_KEYS=100000 (0 skips the cold case).
// BENCH_CPU_PROF=DIR writes --cpu-prof profiles of the keyward service processes into DIR.
import { type ChildProcess, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { isoTime } from '../src/core/key-json.js'
import { createKeyward } from '../src/core/keyward.js'
import { createSqliteStore } from '../src/stores/sqlite/index.js'
import {
  BENCH_PEPPERS,
  canPin,
  fillSqlite,
  fmt,
  type Load,
  median,
  pinLoadGenerator,
  runLoad,
  startServer,
  stopServer,
} from './lib.js'

const ROOT = join(import.meta.dirname, '..')
const KEYS = 1_000
const COLD_KEYS = Number(process.env.BENCH_COLD_KEYS ?? 1_000_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16)
const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined
for (const [name, value, min] of [
  ['BENCH_COLD_KEYS', COLD_KEYS, 0],
  ['BENCH_ROUNDS', ROUNDS, 1],
  ['BENCH_SECONDS', SECONDS, 1],
  ['BENCH_CONNECTIONS', CONNECTIONS, 1],
] as const) {
  if (!Number.isSafeInteger(value) || value < min) {
    console.error(`${name} must be a whole number >= ${min}, got ${JSON.stringify(value)}`)
    process.exit(2)
  }
}
if (COLD_KEYS > 0 && COLD_KEYS < KEYS) {
  console.error(`BENCH_COLD_KEYS must be 0 (skip) or at least ${KEYS}, got ${COLD_KEYS}`)
  process.exit(2)
}

pinLoadGenerator()

interface Target {
  base: string
  pid: number
  /** The verify caller's key (keys:verify). */
  caller: string
}

/** One autocannon run; throws on any failed or non-2xx response. */
async function load(
  target: Target,
  route: 'healthz' | 'verify' | 'token',
  bodies: readonly string[],
  opts: { duration?: number; amount?: number },
): Promise<Load> {
  let i = 0
  return runLoad(
    {
      url: target.base,
      connections: CONNECTIONS,
      pipelining: 1,
      ...opts,
      requests: [
        route === 'healthz'
          ? { method: 'GET', path: '/healthz' }
          : route === 'token'
            ? {
                method: 'POST',
                path: '/oauth/token',
                body: 'grant_type=client_credentials',
                setupRequest: (req) => {
                  req.headers = {
                    'content-type': 'application/x-www-form-urlencoded',
                    'x-api-key': bodies[i++ % bodies.length]!,
                  }
                  return req
                },
              }
            : {
                method: 'POST',
                path: '/v1/keys/verify',
                headers: { 'content-type': 'application/json', 'x-api-key': target.caller },
                setupRequest: (req) => {
                  req.body = bodies[i++ % bodies.length]!
                  return req
                },
              },
      ],
    },
    target.pid,
    `${target.base} ${route}`,
  )
}

/** Resident memory of a process, from ps (kilobytes). */
function rssOf(pid: number): string {
  const kb = Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }))
  return `${Math.round(kb / 1024)} MiB`
}

/**
 * Adds the verify caller's key to a filled file and describes the sample keys as the verify API
 * answers them (for the reference's Map): `sha256<TAB>JSON` lines.
 */
async function prepare(path: string, sample: readonly string[]) {
  const db = new Database(path)
  const store = createSqliteStore({ db })
  const keyward = await createKeyward({ store, peppers: BENCH_PEPPERS })
  const { key: caller } = await keyward.createKey({ name: 'bench-caller', scopes: ['keys:verify'] })
  const lines: string[] = []
  for (const secret of [caller, ...sample]) {
    const found = await keyward.findSecret(secret)
    if (found === null) throw new Error('bench setup broken: a filled key is not in the file')
    const k = found.key
    const info = {
      keyId: k.id,
      owner: k.ownerId,
      name: k.name,
      scopes: k.scopes,
      metadata: k.metadata,
      expiresAt: isoTime(k.expiresAt),
    }
    lines.push(`${createHash('sha256').update(secret).digest('hex')}\t${JSON.stringify(info)}`)
  }
  await keyward.close()
  await store.close()
  return { caller, referenceLines: lines }
}

/** The verify answer of a server for one key: `valid: true`, or the bench is broken. */
async function checkAnswer(target: Target, body: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${target.base}/v1/keys/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': target.caller },
    body,
  })
  const answer = (await res.json()) as Record<string, unknown>
  if (res.status !== 200 || answer.valid !== true)
    throw new Error(
      `bench setup broken: ${target.base} answered ${res.status} ${JSON.stringify(answer)}`,
    )
  return answer
}

/** `--cpu-prof` into BENCH_CPU_PROF/NAME (tsx's loader thread writes a small profile beside it). */
const nodeArgs = (name: string) =>
  PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, name)}`]

async function start(file: string, env: NodeJS.ProcessEnv, caller: string, profile?: string) {
  const server = await startServer(
    file,
    { ...process.env, NODE_ENV: 'production', ...env },
    ROOT,
    profile === undefined ? [] : nodeArgs(profile),
  )
  started.push(server.child)
  return { base: server.base, pid: server.child.pid!, caller, child: server.child }
}

/** The cold file: filled once per size into .bench-tmp and kept, with its sample keys. */
async function coldFile(): Promise<{ file: string; caller: string; bodies: string[] }> {
  mkdirSync(join(ROOT, '.bench-tmp'), { recursive: true })
  const file = join(ROOT, '.bench-tmp', `server-cold-${COLD_KEYS}.db`)
  const keysFile = `${file}.keys`
  if (existsSync(file) && existsSync(keysFile)) {
    const [caller, ...sample] = readFileSync(keysFile, 'utf8').split('\n').filter(Boolean)
    if (caller !== undefined && sample.length === KEYS) {
      console.log(`cold file: ${file} (kept from an earlier run; delete it to refill)`)
      return { file, caller, bodies: bodiesOf(sample) }
    }
  }
  const t = Date.now()
  process.stdout.write(`filling ${file} with ${fmt(COLD_KEYS)} keys in a child process… `)
  const sample = await fillSqlite(file, COLD_KEYS, KEYS)
  console.log(`done in ${((Date.now() - t) / 1000).toFixed(0)} s`)
  const { caller } = await prepare(file, [])
  writeFileSync(keysFile, [caller, ...sample].join('\n'), { mode: 0o600 })
  return { file, caller, bodies: bodiesOf(sample) }
}

const bodiesOf = (keys: readonly string[]) => keys.map((key) => JSON.stringify({ key }))

/** Alternates the runs of each round; returns every run by name. */
async function rounds(runs: Record<string, () => Promise<Load>>): Promise<Record<string, Load[]>> {
  const out: Record<string, Load[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++)
    for (const [name, run] of Object.entries(runs)) out[name]!.push(await run())
  return out
}

const lat = (runs: Load[]) =>
  `p50 ${median(runs.map((r) => r.p50Ms)).toFixed(2)} ms, p99 ${median(runs.map((r) => r.p99Ms)).toFixed(2)} ms`
const rate = (runs: Load[]) => fmt(median(runs.map((r) => r.rps)))
const cpu = (runs: Load[]) =>
  runs.every((r) => r.cpuUs !== undefined) ? median(runs.map((r) => r.cpuUs!)) : undefined

/**
 * One result line: the median of per-round throughput ratios against the baseline, the
 * target, and the CPU time per request of each (whose inverse ratio is what the throughput
 * ratio would be with the server alone on its core).
 */
function report(
  label: string,
  subject: [string, Load[]],
  baseline: [string, Load[]],
  target?: number,
) {
  const ratio = median(subject[1].map((s, r) => s.rps / baseline[1][r]!.rps))
  const verdict =
    target === undefined
      ? '(no target)'
      : `(target >= ${target}${ratio < target ? ', MISSED' : ''})`
  const [cs, cb] = [cpu(subject[1]), cpu(baseline[1])]
  const cpuText =
    cs === undefined || cb === undefined
      ? ''
      : `; CPU per request ${cs.toFixed(0)} vs ${cb.toFixed(0)} µs (ratio ${(cb / cs).toFixed(2)})`
  console.log(`${label}: ${ratio.toFixed(2)} ${verdict}${cpuText}`)
  console.log(
    `    ${subject[0]} ${lat(subject[1])}, ${rate(subject[1])} req/s; ${baseline[0]} ${lat(baseline[1])}, ${rate(baseline[1])} req/s`,
  )
}

const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-server-'))
const started: ChildProcess[] = []
try {
  if (PROFILE_DIR !== undefined) mkdirSync(PROFILE_DIR, { recursive: true })
  console.log(
    `bench/server: autocannon, ${CONNECTIONS} connections, ${canPin ? 'servers on core 0, load generator on core 1' : 'NOT pinned (taskset or a second core missing)'}; ${ROUNDS} rounds of ${SECONDS} s alternating; ratios are medians of per-round ratios`,
  )
  const warmFile = join(dir, 'warm.db')
  const warmSample = await fillSqlite(warmFile, KEYS, KEYS)
  const warm = await prepare(warmFile, warmSample)
  const referenceKeys = join(dir, 'reference-keys.tsv')
  writeFileSync(referenceKeys, warm.referenceLines.join('\n'))
  const warmBodies = bodiesOf(warmSample)
  const cold = COLD_KEYS > 0 ? await coldFile() : undefined

  const svc = await start('bench/service-process.ts', { BENCH_DB: warmFile }, warm.caller, 'warm')
  const ref = await start(
    'bench/references/fastify-verify.ts',
    { BENCH_REFERENCE_KEYS: referenceKeys },
    warm.caller,
  )
  const ours = await checkAnswer(svc, warmBodies[0]!)
  const theirs = await checkAnswer(ref, warmBodies[0]!)
  if (JSON.stringify(Object.keys(ours)) !== JSON.stringify(Object.keys(theirs)))
    throw new Error(
      `the reference answers other fields: ${Object.keys(theirs)} vs ${Object.keys(ours)}`,
    )
  // warm-up: JIT on every route, every key through the store into the service's cache
  for (const t of [svc, ref]) {
    await load(t, 'healthz', [], { amount: 2 * KEYS })
    await load(t, 'verify', warmBodies, { amount: 2 * KEYS })
  }
  await load(svc, 'token', warmSample, { amount: 2 * KEYS })
  const w = await rounds({
    healthz: () => load(svc, 'healthz', [], { duration: SECONDS }),
    verify: () => load(svc, 'verify', warmBodies, { duration: SECONDS }),
    reference: () => load(ref, 'verify', warmBodies, { duration: SECONDS }),
    token: () => load(svc, 'token', warmSample, { duration: SECONDS }),
  })
  const rss = [`keyward service (warm cache) ${rssOf(svc.pid)}`, `hand-written ${rssOf(ref.pid)}`]
  await stopServer(svc.child)
  await stopServer(ref.child)
  console.log(`${fmt(KEYS)} keys on SQLite, warm cache:`)
  report(
    "  POST /v1/keys/verify vs the same server's GET /healthz",
    ['verify', w.verify!],
    ['healthz', w.healthz!],
    0.6,
  )
  report(
    '  POST /v1/keys/verify vs the hand-written Fastify route (sha256 in a Map)',
    ['keyward', w.verify!],
    ['hand-written', w.reference!],
    0.9,
  )
  report(
    "  POST /oauth/token (a cached key, an EdDSA signature) vs the same server's GET /healthz",
    ['token', w.token!],
    ['healthz', w.healthz!],
  )

  if (cold !== undefined) {
    const c = await start(
      'bench/service-process.ts',
      { BENCH_DB: cold.file, BENCH_CACHE: 'off' },
      cold.caller,
      'cold',
    )
    await checkAnswer(c, cold.bodies[0]!)
    await load(c, 'healthz', [], { amount: 2 * KEYS })
    await load(c, 'verify', cold.bodies, { amount: 2 * KEYS })
    const k = await rounds({
      healthz: () => load(c, 'healthz', [], { duration: SECONDS }),
      verify: () => load(c, 'verify', cold.bodies, { duration: SECONDS }),
    })
    rss.push(`keyward service (cache off, ${fmt(COLD_KEYS)} keys) ${rssOf(c.pid)}`)
    await stopServer(c.child)
    console.log(
      `${fmt(COLD_KEYS)} keys on SQLite, cache off (${fmt(KEYS)} of them in use; the caller's key is looked up too):`,
    )
    report(
      "  POST /v1/keys/verify vs the same server's GET /healthz",
      ['verify', k.verify!],
      ['healthz', k.healthz!],
    )
  }
  console.log(`server RSS after the runs: ${rss.join(', ')}`)
  if (PROFILE_DIR !== undefined)
    console.log(`CPU profiles of the keyward service in ${PROFILE_DIR}`)
} finally {
  for (const child of started) await stopServer(child)
  rmSync(dir, { recursive: true, force: true })
}
