// `npm run bench:server`: the service's verify API (POST /v1/keys/verify, caller authenticated
// with a keys:verify key) in one run against
//   - the same server's GET /healthz (target >= 0.6), 1,000 keys on SQLite, warm cache;
//   - bench/references/fastify-verify.ts, the verify route written by hand with Fastify (sha256
//     in a Map, the same JSON), started in the same run (target >= 0.9);
//   - cold: the cache off, BENCH_COLD_KEYS keys (default 1,000,000) in the SQLite file, 1,000 of
//     them in use, against that server's GET /healthz (no target: it shows what the store costs).
// Each pair alternates BENCH_ROUNDS times (default 4) for BENCH_SECONDS (default 3) with autocannon
// (BENCH_CONNECTIONS, default 16); the servers run on core 0 and the load generator on core 1
// when taskset is there. Ratios and latencies are medians over the rounds; RSS is read from the
// server processes at the end. The service runs without a request log and with its metrics on.
// Shorter runs: BENCH_ROUNDS=2 BENCH_SECONDS=2 BENCH_COLD_KEYS=100000 (0 skips the cold case).
// BENCH_CPU_PROF=DIR writes a --cpu-prof profile of each keyward service process into DIR.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import autocannon from 'autocannon'
import Database from 'better-sqlite3'
import { isoTime } from '../src/core/key-json.js'
import { createKeyward } from '../src/core/keyward.js'
import { createSqliteStore } from '../src/stores/sqlite/index.js'
import {
  BENCH_PEPPERS,
  canPin,
  fillSqlite,
  fmt,
  median,
  pinLoadGenerator,
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

interface Load {
  rps: number
  p50Ms: number
  p99Ms: number
}

interface Target {
  base: string
  /** The verify caller's key (keys:verify). */
  caller: string
}

/** One autocannon run; throws on any failed or non-2xx response. */
async function load(
  base: string,
  route: 'healthz' | 'verify',
  target: Target,
  bodies: readonly string[],
  opts: { duration?: number; amount?: number },
): Promise<Load> {
  let i = 0
  const run = autocannon({
    url: base,
    connections: CONNECTIONS,
    pipelining: 1,
    ...opts,
    requests: [
      route === 'healthz'
        ? { method: 'GET', path: '/healthz' }
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
  })
  // autocannon's own percentiles are whole milliseconds; these responses take less
  const times: number[] = []
  run.on('response', (_client, _status, _bytes, ms) => times.push(ms))
  const result = await run
  const bad = result.non2xx + result.errors + result.timeouts
  if (bad > 0) throw new Error(`${base} ${route}: ${bad} failed or non-2xx responses`)
  times.sort((a, b) => a - b)
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0
  return { rps: result.requests.average, p50Ms: at(0.5), p99Ms: at(0.99) }
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

/** The verify answer of both servers for one key: the same fields, `valid: true`. */
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

function ratioLine(label: string, subject: Load[], baseline: Load[], target: string) {
  const ratio = median(subject.map((s, r) => s.rps / baseline[r]!.rps))
  return { ratio, label, target, subject, baseline }
}

const lat = (runs: Load[]) =>
  `p50 ${median(runs.map((r) => r.p50Ms)).toFixed(2)} ms p99 ${median(runs.map((r) => r.p99Ms)).toFixed(2)} ms`
const rate = (runs: Load[]) => fmt(median(runs.map((r) => r.rps)))

const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-server-'))
const started: Parameters<typeof stopServer>[0][] = []
try {
  if (PROFILE_DIR !== undefined) mkdirSync(PROFILE_DIR, { recursive: true })
  console.log(
    `bench/server: ${fmt(KEYS)} keys on SQLite (warm cache)${COLD_KEYS > 0 ? ` and ${fmt(COLD_KEYS)} (cache off)` : ''}; autocannon, ${CONNECTIONS} connections, ${canPin ? 'servers on core 0, load generator on core 1' : 'NOT pinned (taskset or a second core missing)'}; ${ROUNDS}x${SECONDS}s alternating`,
  )
  const warmFile = join(dir, 'warm.db')
  const warmSample = await fillSqlite(warmFile, KEYS, KEYS)
  const warm = await prepare(warmFile, warmSample)
  const referenceKeys = join(dir, 'reference-keys.tsv')
  writeFileSync(referenceKeys, warm.referenceLines.join('\n'))
  const bodiesOf = (keys: readonly string[]) => keys.map((key) => JSON.stringify({ key }))
  const warmBodies = bodiesOf(warmSample)

  let cold: { file: string; caller: string; bodies: string[] } | undefined
  if (COLD_KEYS > 0) {
    const file = join(dir, 'cold.db')
    const t = Date.now()
    process.stdout.write(`filling SQLite with ${fmt(COLD_KEYS)} keys in a child process… `)
    const sample = await fillSqlite(file, COLD_KEYS, KEYS)
    console.log(`done in ${((Date.now() - t) / 1000).toFixed(0)} s`)
    cold = { file, caller: (await prepare(file, [])).caller, bodies: bodiesOf(sample) }
  }

  const env = { ...process.env, NODE_ENV: 'production' }
  const service = await startServer(
    'bench/service-process.ts',
    { ...env, BENCH_DB: warmFile },
    ROOT,
    nodeArgs('service-warm'),
  )
  started.push(service.child)
  const reference = await startServer(
    'bench/references/fastify-verify.ts',
    { ...env, BENCH_REFERENCE_KEYS: referenceKeys },
    ROOT,
  )
  started.push(reference.child)
  const svc: Target = { base: service.base, caller: warm.caller }
  const ref: Target = { base: reference.base, caller: warm.caller }
  const ours = await checkAnswer(svc, warmBodies[0]!)
  const theirs = await checkAnswer(ref, warmBodies[0]!)
  if (JSON.stringify(Object.keys(ours)) !== JSON.stringify(Object.keys(theirs)))
    throw new Error(
      `the reference answers other fields: ${Object.keys(theirs)} vs ${Object.keys(ours)}`,
    )
  // warm-up: JIT on every route, every key through the store into the service's cache
  for (const t of [svc, ref]) {
    await load(t.base, 'healthz', t, [], { amount: 2 * KEYS })
    await load(t.base, 'verify', t, warmBodies, { amount: 2 * KEYS })
  }
  const healthz: Load[] = []
  const verify: Load[] = []
  const handWritten: Load[] = []
  for (let r = 0; r < ROUNDS; r++) {
    healthz.push(await load(svc.base, 'healthz', svc, [], { duration: SECONDS }))
    verify.push(await load(svc.base, 'verify', svc, warmBodies, { duration: SECONDS }))
    handWritten.push(await load(ref.base, 'verify', ref, warmBodies, { duration: SECONDS }))
  }
  const rss = [
    `keyward service (warm) ${rssOf(service.child.pid!)}`,
    `hand-written ${rssOf(reference.child.pid!)}`,
  ]
  await stopServer(service.child)
  await stopServer(reference.child)

  const lines = [
    ratioLine("POST /v1/keys/verify / same server's GET /healthz", verify, healthz, '0.6'),
    ratioLine(
      'POST /v1/keys/verify / hand-written Fastify route (sha256 in a Map)',
      verify,
      handWritten,
      '0.9',
    ),
  ]
  let coldRuns: { verify: Load[]; healthz: Load[] } | undefined
  if (cold !== undefined) {
    const coldService = await startServer(
      'bench/service-process.ts',
      { ...env, BENCH_DB: cold.file, BENCH_CACHE: 'off' },
      ROOT,
      nodeArgs('service-cold'),
    )
    started.push(coldService.child)
    const c: Target = { base: coldService.base, caller: cold.caller }
    await checkAnswer(c, cold.bodies[0]!)
    await load(c.base, 'healthz', c, [], { amount: 2 * KEYS })
    await load(c.base, 'verify', c, cold.bodies, { amount: 2 * KEYS })
    coldRuns = { verify: [], healthz: [] }
    for (let r = 0; r < ROUNDS; r++) {
      coldRuns.healthz.push(await load(c.base, 'healthz', c, [], { duration: SECONDS }))
      coldRuns.verify.push(await load(c.base, 'verify', c, cold.bodies, { duration: SECONDS }))
    }
    rss.push(`keyward service (cache off, ${fmt(COLD_KEYS)} keys) ${rssOf(coldService.child.pid!)}`)
    await stopServer(coldService.child)
    lines.push(
      ratioLine(
        `cold POST /v1/keys/verify (cache off, ${fmt(COLD_KEYS)} keys) / its GET /healthz`,
        coldRuns.verify,
        coldRuns.healthz,
        'none',
      ),
    )
  }

  for (const l of lines) {
    const verdict =
      l.target === 'none'
        ? '(no target)'
        : `(target >= ${l.target}${l.ratio < Number(l.target) ? ', MISSED' : ''})`
    console.log(
      `${l.label.padEnd(72)} ${l.ratio.toFixed(2)} ${verdict}   ${lat(l.subject)} vs ${lat(l.baseline)}   (${rate(l.subject)} vs ${rate(l.baseline)} req/s)`,
    )
  }
  console.log(`server RSS after the runs: ${rss.join(', ')}`)
  if (PROFILE_DIR !== undefined)
    console.log(`CPU profiles of the keyward service in ${PROFILE_DIR}`)
} finally {
  for (const child of started) await stopServer(child)
  rmSync(dir, { recursive: true, force: true })
}
