// What every reference shares with keyward's example apps: the keys (as a team would keep them:
// the SHA-256 of each key, mapped to the key's id) and the orders the routes serve.
// BENCH_KEY_HASHES: a file of `sha256-hex<TAB>key id` lines (a line without a tab: the id is
// `key_<line number>`, bench/http's older format).
import { readFileSync } from 'node:fs'

export const knownKeys = new Map<string, string>()
for (const [i, line] of readFileSync(process.env.BENCH_KEY_HASHES!, 'utf8').split('\n').entries()) {
  const tab = line.indexOf('\t')
  if (tab > 0) knownKeys.set(line.slice(0, tab), line.slice(tab + 1))
  else if (line !== '') knownKeys.set(line, `key_${i}`)
}

/** The examples' orders table (examples/shared.ts). */
export const orders = [{ id: 1, item: 'coffee', quantity: 2, createdBy: 'seed' }]

/** `memory`, `redis` or undefined: which limiter the reference puts after its key check. */
export const limit = (process.env.BENCH_REFERENCE_LIMIT || undefined) as
  | 'memory'
  | 'redis'
  | undefined
/** Far above what one key gets in a run: every request is admitted, the full charge path runs. */
export const LIMIT = { max: 1_000_000, windowMs: 3_600_000 }
export const redisUrl = process.env.KEYWARD_REDIS_URL
export const redisPrefix = process.env.BENCH_REFERENCE_NAMESPACE ?? 'ref-'

/** The line bench/lib.ts's startServer waits for. */
export function listening(port: number): void {
  console.log(`listening on http://127.0.0.1:${port}`)
}
