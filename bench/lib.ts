// Shared helpers for the benchmarks: every figure is a ratio against a baseline measured in
// the same run, alternating with it, because absolute times on shared machines mean little.
import {
  type ChildProcess,
  type SpawnOptionsWithStdioTuple,
  spawn,
  spawnSync,
} from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import type { Server } from 'node:net'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import autocannon, { type AutocannonOptions } from 'autocannon'

/** Runs `fn` `n` times (awaiting when it returns a promise) and returns operations per second. */
export async function opsPerSecond(n: number, fn: (i: number) => unknown): Promise<number> {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const r = fn(i)
    if (r instanceof Promise) await r
  }
  const ns = Number(process.hrtime.bigint() - start)
  return (n / ns) * 1e9
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * Measures `subject` and `baseline` alternately `rounds` times and returns the median of the
 * per-round ratios subject/baseline plus the median rates.
 */
export async function ratioAgainst(
  rounds: number,
  n: number,
  baseline: (i: number) => unknown,
  subject: (i: number) => unknown,
): Promise<{ ratio: number; subjectRate: number; baselineRate: number }> {
  const ratios: number[] = []
  const subjectRates: number[] = []
  const baselineRates: number[] = []
  for (let r = 0; r < rounds; r++) {
    const b1 = await opsPerSecond(n, baseline)
    const s = await opsPerSecond(n, subject)
    const b2 = await opsPerSecond(n, baseline)
    const b = (b1 + b2) / 2
    ratios.push(s / b)
    subjectRates.push(s)
    baselineRates.push(b)
  }
  return {
    ratio: median(ratios),
    subjectRate: median(subjectRates),
    baselineRate: median(baselineRates),
  }
}

export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
export const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MiB`

/** The pepper bench/verify's file is filled and verified with: a fixed, bench-only secret. */
export const BENCH_PEPPERS = [{ version: 1, secret: 'bench-pepper-'.padEnd(48, 'x') }]

/** Pinning is possible: taskset exists and there are two cores (server on 0, load on 1). */
export const canPin =
  availableParallelism() >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0

/** Moves this process (the load generator) to core 1 when pinning is possible. */
export function pinLoadGenerator(): void {
  if (canPin) spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' })
}

/**
 * Starts a TypeScript server file in its own process (on core 0 when pinning is possible) and
 * resolves with its base URL once it prints `listening on http://HOST:PORT`. `nodeArgs` go to
 * node (e.g. `--cpu-prof`).
 */
export async function startServer(
  file: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
  nodeArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; base: string }> {
  const command = [process.execPath, ...nodeArgs, '--import', 'tsx', file]
  const options: SpawnOptionsWithStdioTuple<'ignore', 'pipe', 'inherit'> = {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  }
  const child = canPin
    ? spawn('taskset', ['-c', '0', ...command], options)
    : spawn(command[0]!, command.slice(1), options)
  let output = ''
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(output)
      if (m) resolve(m[1]!)
    })
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)))
  })
  return { child, base }
}

/**
 * CPU time (ns) a process has used, all threads, from /proc/PID/task/TID/schedstat (Linux);
 * undefined elsewhere. Per request it is a capacity measure that other processes on a shared
 * core barely move, unlike requests per second.
 */
export function cpuNs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    let total = 0
    for (const tid of readdirSync(`/proc/${pid}/task`))
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    return total
  } catch {
    return undefined
  }
}

/** Stops a server started by `startServer` and waits for it to exit. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/**
 * Runs bench/verify-fill.ts in a child process: `total` keys into a fresh SQLite file at
 * `path` (peppered with BENCH_PEPPERS); resolves with the first `sample` secrets.
 */
export function fillSqlite(path: string, total: number, sample: number): Promise<string[]> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'verify-fill.ts'),
      path,
      String(total),
      String(sample),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const chunks: Buffer[] = []
  child.stdout.on('data', (c: Buffer) => chunks.push(c))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench/verify-fill.ts exited with ${code}`))
      const keys = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean)
      if (keys.length !== sample)
        return reject(new Error(`bench/verify-fill.ts printed ${keys.length} keys, not ${sample}`))
      resolve(keys)
    })
  })
}

/** One load run as the HTTP benches report it. */
export interface Load {
  rps: number
  p50Ms: number
  p99Ms: number
  /** CPU time the server spent per request (all its threads), when Linux tells it. */
  cpuUs: number | undefined
  /** CPU time per request of the process it relies on (`alsoPid`, e.g. Redis), when given and readable. */
  alsoCpuUs: number | undefined
}

/**
 * One autocannon run against the server of process `pid`: throughput, p50/p99 from every
 * response's time (autocannon's own percentiles are whole milliseconds; these responses take
 * less) and the server's CPU time per request. Throws on any failed or non-2xx response.
 */
export async function runLoad(
  options: AutocannonOptions,
  pid: number | undefined,
  label: string,
  alsoPid?: number,
): Promise<Load> {
  const cpuBefore = cpuNs(pid)
  const alsoBefore = cpuNs(alsoPid)
  const run = autocannon(options)
  const times: number[] = []
  run.on('response', (_client, _status, _bytes, ms) => times.push(ms))
  const result = await run
  const cpuAfter = cpuNs(pid)
  const alsoAfter = cpuNs(alsoPid)
  const bad = result.non2xx + result.errors + result.timeouts
  if (bad > 0) throw new Error(`${label}: ${bad} failed or non-2xx responses`)
  times.sort((a, b) => a - b)
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0
  return {
    rps: result.requests.average,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    cpuUs:
      cpuBefore === undefined || cpuAfter === undefined
        ? undefined
        : (cpuAfter - cpuBefore) / 1000 / times.length,
    alsoCpuUs:
      alsoBefore === undefined || alsoAfter === undefined
        ? undefined
        : (alsoAfter - alsoBefore) / 1000 / times.length,
  }
}

/** Prints the line `startServer` waits for: `listening on http://127.0.0.1:PORT`. */
export function printListening(server: Server): string {
  const address = server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  console.log(`listening on ${url}`)
  return url
}
