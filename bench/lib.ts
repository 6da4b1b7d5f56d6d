// Shared helpers for the benchmarks: every figure is a ratio against a baseline measured in
// the same run, alternating with it, because absolute times on shared machines mean little.

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
