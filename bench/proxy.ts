// `npm run bench:proxy`: keyward's authenticating proxy in one run against
//   (a) the upstream called directly (target >= 0.5) and
//   (b) the same forwarding library (@fastify/reply-from on undici) with no authentication
//       (bench/proxy/reference.ts, target >= 0.85),
// and the floor (bench/proxy/floor.ts: node:http piping requests through, nothing checked)
// against the direct call, which shows how close any Node forwarder can come to (a),
// with a valid key on every request to a minimal upstream (bench/proxy/upstream.ts): medians
// of per-round throughput ratios, p50/p99 latency and (Linux) CPU time per request of the
// proxies. Then the keyward proxy's RSS while a 100 MB body streams through it, and the
// revocation delay between two `keyward serve` processes (the built CLI), 20 revocations each on
// PostgreSQL alone, PostgreSQL + Redis, and SQLite: median and max (target max <= 1 s).
// Servers run on core 0 and the load generator on core 1 when taskset is there.
// BENCH_ROUNDS (default 4), BENCH_SECONDS (3), BENCH_CONNECTIONS (16); PostgreSQL and Redis
// from KEYWARD_TEST_POSTGRES_URL / KEYWARD_TEST_REDIS_URL (their set-ups are skipped without).
// BENCH_CPU_PROF=DIR writes a --cpu-prof profile of the keyward proxy into DIR.
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import pg from 'pg'
import { runCli } from '../src/cli/testing.js'
import {
  bootstrapKey,
  requireBuild,
  SERVE_PEPPER,
  type ServeChild,
  spawnServe,
  stopServe,
} from '../test/fixtures/serve-process.js'
import {
  canPin,
  fmt,
  type Load,
  median,
  pinLoadGenerator,
  runLoad,
  startServer,
  stopServer,
} from './lib.js'

const ROOT = join(import.meta.dirname, '..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16)
const REVOCATIONS = 20
const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined
const POSTGRES = process.env.KEYWARD_TEST_POSTGRES_URL || undefined
const REDIS = process.env.KEYWARD_TEST_REDIS_URL || undefined
const MB = 1024 * 1024

pinLoadGenerator()
requireBuild()

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

/** One autocannon run of GET /orders/1 (with the key when given); throws on any failure. */
function load(base: string, key: string | null, pid: number | undefined, seconds: number) {
  return runLoad(
    {
      url: `${base}/orders/1`,
      connections: CONNECTIONS,
      duration: seconds,
      headers: key === null ? {} : { 'x-api-key': key },
    },
    pid,
    base,
  )
}

const lat = (runs: Load[]) =>
  `p50 ${median(runs.map((r) => r.p50Ms)).toFixed(2)} ms, p99 ${median(runs.map((r) => r.p99Ms)).toFixed(2)} ms, ${fmt(median(runs.map((r) => r.rps)))} req/s`

function report(
  label: string,
  subject: Load[],
  baseline: Load[],
  target: number | null,
  names: [string, string],
) {
  const ratio = median(subject.map((s, r) => s.rps / baseline[r]!.rps))
  const cs = subject.every((r) => r.cpuUs !== undefined)
    ? median(subject.map((r) => r.cpuUs!))
    : undefined
  const cb = baseline.every((r) => r.cpuUs !== undefined)
    ? median(baseline.map((r) => r.cpuUs!))
    : undefined
  const cpuText =
    cs === undefined || cb === undefined
      ? ''
      : `; proxy CPU per request ${cs.toFixed(0)} vs ${cb.toFixed(0)} µs`
  console.log(
    `${label}: ${ratio.toFixed(2)} (${target === null ? 'no target' : `target >= ${target}${ratio < target ? ', MISSED' : ''}`})${cpuText}`,
  )
  console.log(`    ${names[0]} ${lat(subject)}; ${names[1]} ${lat(baseline)}`)
}

/** Streams `total` bytes to `url` and samples `pid`'s RSS meanwhile: [before, max, after]. */
async function rssDuringUpload(url: string, key: string, pid: number, total: number) {
  const before = rssBytes(pid)
  let max = before
  const timer = setInterval(() => {
    max = Math.max(max, rssBytes(pid))
  }, 20)
  const block = Buffer.alloc(64 * 1024, 7)
  let left = total
  const body = new Readable({
    read() {
      if (left <= 0) return void this.push(null)
      left -= block.length
      this.push(block)
    },
  })
  const status = await new Promise<number>((resolvePromise, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'x-api-key': key,
          'content-type': 'application/octet-stream',
          'content-length': total,
        },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolvePromise(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    body.pipe(req)
  })
  clearInterval(timer)
  if (status !== 200) throw new Error(`the 100 MB upload answered ${status}`)
  return [before, max, rssBytes(pid)] as const
}

/** Two `keyward serve` nodes on one store; the delays of `REVOCATIONS` revocations. */
async function revocationDelays(
  args: string[],
  env: Record<string, string> = {},
): Promise<number[]> {
  const nodes: { child: ServeChild; url: string }[] = []
  const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-proxy-'))
  try {
    for (let i = 0; i < 2; i++) {
      const child = spawnServe(['--port', '0', ...args], { cwd: dir, env })
      nodes.push({ child, url: await child.listening() })
    }
    const admin = bootstrapKey(nodes[0]!.child.stderr())!
    const call = async (node: number, method: string, path: string, body?: unknown) => {
      const res = await fetch(nodes[node]!.url + path, {
        method,
        headers: {
          'x-api-key': admin,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      return (await res.json()) as Record<string, unknown>
    }
    const delays: number[] = []
    for (let i = 0; i < REVOCATIONS; i++) {
      const { key, id } = (await call(0, 'POST', '/v1/keys', { name: `revoked ${i}` })) as {
        key: string
        id: string
      }
      if ((await call(1, 'POST', '/v1/keys/verify', { key })).valid !== true)
        throw new Error('setup broken')
      const started = Date.now()
      await call(0, 'DELETE', `/v1/keys/${id}`)
      for (;;) {
        const answer = await call(1, 'POST', '/v1/keys/verify', { key })
        if (answer.code === 'key_revoked') break
        if (Date.now() - started > 10_000) throw new Error('not refused after 10 s')
        await new Promise((r) => setTimeout(r, 2))
      }
      delays.push(Date.now() - started)
    }
    return delays
  } finally {
    for (const node of nodes) await stopServe(node.child)
    rmSync(dir, { recursive: true, force: true })
  }
}

function delayLine(label: string, delays: number[]) {
  const max = Math.max(...delays)
  console.log(
    `  ${label}: median ${median(delays).toFixed(0)} ms, max ${max} ms over ${delays.length} revocations (target max <= 1000 ms${max > 1000 ? ', MISSED' : ''})`,
  )
}

const started: ChildProcess[] = []
const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-proxy-'))
try {
  console.log(
    `bench/proxy: autocannon, ${CONNECTIONS} connections, ${canPin ? 'servers on core 0, load generator on core 1' : 'NOT pinned (taskset or a second core missing)'}; ${ROUNDS} rounds of ${SECONDS} s alternating; ratios are medians of per-round ratios`,
  )
  const env = { ...process.env, NODE_ENV: 'production' }
  const upstream = await startServer('bench/proxy/upstream.ts', env, ROOT)
  started.push(upstream.child)
  const reference = await startServer(
    'bench/proxy/reference.ts',
    { ...env, BENCH_UPSTREAM: upstream.base },
    ROOT,
  )
  started.push(reference.child)
  const floor = await startServer(
    'bench/proxy/floor.ts',
    { ...env, BENCH_UPSTREAM: upstream.base },
    ROOT,
  )
  started.push(floor.child)
  const keyFile = join(dir, 'key')
  const keyward = await startServer(
    'bench/proxy/service.ts',
    { ...env, BENCH_UPSTREAM: upstream.base, BENCH_KEY_FILE: keyFile },
    ROOT,
    PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`],
  )
  started.push(keyward.child)
  const key = readFileSync(keyFile, 'utf8')
  const targets = {
    direct: () => load(upstream.base, null, upstream.child.pid, SECONDS),
    reference: () => load(reference.base, null, reference.child.pid, SECONDS),
    floor: () => load(floor.base, null, floor.child.pid, SECONDS),
    keyward: () => load(keyward.base, key, keyward.child.pid, SECONDS),
  }
  for (const warm of Object.values(targets)) await warm()
  const runs: Record<string, Load[]> = { direct: [], reference: [], floor: [], keyward: [] }
  for (let r = 0; r < ROUNDS; r++)
    for (const [name, run] of Object.entries(targets)) runs[name]!.push(await run())
  report('keyward proxy vs the upstream called directly', runs.keyward!, runs.direct!, 0.5, [
    'keyward',
    'direct',
  ])
  report(
    'keyward proxy vs reply-from without authentication',
    runs.keyward!,
    runs.reference!,
    0.85,
    ['keyward', 'reply-from'],
  )
  // The upstream shares core 0 with the proxy in front of it, so (a) holds only for a proxy
  // that costs no more CPU per request than the upstream: the floor shows what the leanest
  // Node forwarder costs.
  report(
    'floor: node:http piping proxy, no authentication, vs the upstream called directly',
    runs.floor!,
    runs.direct!,
    null,
    ['floor', 'direct'],
  )
  const rssLine = async (label: string, base: string, pid: number) => {
    const [before, max, after] = await rssDuringUpload(`${base}/upload`, key, pid, 100 * MB)
    console.log(
      `${label} RSS during a 100 MB streamed upload: ${(before / MB).toFixed(0)} MiB before, ${(max / MB).toFixed(0)} MiB at most, ${(after / MB).toFixed(0)} MiB after`,
    )
  }
  await rssLine('keyward proxy', keyward.base, keyward.child.pid!)
  await rssLine('reply-from without authentication', reference.base, reference.child.pid!)
  for (const child of started.splice(0)) await stopServer(child)

  console.log(
    `revocation delay between two keyward serve processes (revoked on one, polled on the other every ~2 ms):`,
  )
  if (POSTGRES !== undefined) {
    // a schema per set-up: each starts empty, so its first node prints a bootstrap key
    const onSchema = async (label: string, suffix: string, extra: string[]) => {
      const schema = `kw_bench_${process.pid}_${suffix}`
      const db = `${POSTGRES}?schema=${schema}`
      const migrated = await runCli(['migrate', '--db', db], {
        env: { KEYWARD_PEPPER: SERVE_PEPPER },
      })
      if (migrated.code !== 0) throw new Error(migrated.stderr)
      try {
        delayLine(label, await revocationDelays(['--db', db, ...extra]))
      } finally {
        const pool = new pg.Pool({ connectionString: POSTGRES })
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        await pool.end()
      }
    }
    await onSchema('PostgreSQL only (LISTEN/NOTIFY)', 'pg', [])
    if (REDIS !== undefined)
      await onSchema('PostgreSQL + Redis (pub/sub and LISTEN/NOTIFY)', 'redis', [
        '--redis',
        REDIS,
        '--redis-prefix',
        `kw_bench_${process.pid}`,
      ])
    else console.log('  PostgreSQL + Redis: skipped (set KEYWARD_TEST_REDIS_URL)')
  } else console.log('  PostgreSQL: skipped (set KEYWARD_TEST_POSTGRES_URL)')
  delayLine(
    'SQLite (the file polled)',
    await revocationDelays(['--db', `sqlite:${join(dir, 'revoke.db')}`]),
  )
  if (PROFILE_DIR !== undefined) console.log(`CPU profile of the keyward proxy in ${PROFILE_DIR}`)
} finally {
  for (const child of started) await stopServer(child)
  rmSync(dir, { recursive: true, force: true })
}
