// bench/verify: in-process verification against raw sha256 of the same key strings.
// Cases: a valid cached key, an unknown key (valid checksum, not stored), and a cold lookup
// (cache off) on SQLite holding KEYS keys (default 1,000,000; BENCH_VERIFY_KEYS to change, at least
// 100,000).
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { createKeyward, generateKey } from '../src/index.js'
import { createSqliteStore } from '../src/stores/sqlite/index.js'
import { BENCH_PEPPERS, fillSqlite, fmt, mib, ratioAgainst } from './lib.js'

const TOTAL = Number(process.env.BENCH_VERIFY_KEYS ?? 1_000_000)
const SAMPLE = 100_000 // keys kept in memory for the verify loops
const dir = '.bench-tmp'
const path = `${dir}/verify-${TOTAL}.db`
const keysPath = `${path}.keys`
if (!Number.isSafeInteger(TOTAL) || TOTAL < SAMPLE) {
  console.error(`BENCH_VERIFY_KEYS must be a whole number >= ${fmt(SAMPLE)}, got ${TOTAL}`)
  process.exit(2)
}

mkdirSync(dir, { recursive: true })
/**
 * The filled file and its sample keys, kept in .bench-tmp between runs (filling a million keys
 * takes minutes on a shared machine); delete them to refill.
 */
async function filled(): Promise<string[]> {
  if (existsSync(path) && existsSync(keysPath)) {
    const kept = readFileSync(keysPath, 'utf8').split('\n').filter(Boolean)
    if (kept.length === SAMPLE) {
      console.log(`bench/verify: ${path} kept from an earlier run (delete it to refill)`)
      return kept
    }
  }
  process.stdout.write(`bench/verify: filling SQLite with ${fmt(TOTAL)} keys in a child process… `)
  const fillStart = Date.now()
  const keys = await fillSqlite(path, TOTAL, SAMPLE)
  writeFileSync(keysPath, keys.join('\n'), { mode: 0o600 })
  console.log(`done in ${((Date.now() - fillStart) / 1000).toFixed(1)} s`)
  return keys
}
const sample = await filled()
const db = new Database(path)
const store = createSqliteStore({ db })

const unknown = Array.from({ length: 1000 }, () => generateKey())
const hot = sample.slice(0, 1000)
const sha = (k: string) => createHash('sha256').update(k).digest()
const N = 200_000
const ROUNDS = 5

const cached = await createKeyward({ store, peppers: BENCH_PEPPERS })
for (const k of hot) await cached.verify(k) // warm
const check = await cached.verify(hot[0])
if (!check.ok) throw new Error(`bench setup broken: a stored key did not verify (${check.code})`)
const r1 = await ratioAgainst(
  ROUNDS,
  N,
  (i) => sha(hot[i % 1000]!),
  (i) => cached.verify(hot[i % 1000]),
)

const r2 = await ratioAgainst(
  ROUNDS,
  N,
  (i) => sha(unknown[i % 1000]!),
  (i) => cached.verify(unknown[i % 1000]),
)

const cold = await createKeyward({ store, peppers: BENCH_PEPPERS, cache: false })
const coldN = 50_000
// 1,000 keys in use out of the million stored: the usual shape of traffic (the same set as the
// cached case), read through SQLite every time since keyward's cache is off
const r3 = await ratioAgainst(
  ROUNDS,
  coldN,
  (i) => sha(hot[i % 1000]!),
  (i) => cold.verify(hot[i % 1000]),
)
// the worst case: 100,000 different keys spread over the file, so nearly every page is a miss
const stride = 7919 // a prime: walks the sample in an order unrelated to insertion
const r4 = await ratioAgainst(
  ROUNDS,
  coldN,
  (i) => sha(sample[(i * stride) % SAMPLE]!),
  (i) => cold.verify(sample[(i * stride) % SAMPLE]),
)

// fill the cache to its bound (100,000 entries by default) and report the process's memory
for (const k of sample) await cached.verify(k)
global.gc?.()
const mem = process.memoryUsage()
const size = cached.cacheSize()

const line = (
  name: string,
  r: { ratio: number; subjectRate: number; baselineRate: number },
  target: number,
) =>
  console.log(
    `verify ${name.padEnd(44)} ratio ${r.ratio.toFixed(2)} (target >= ${target})  ${fmt(r.subjectRate)}/s vs sha256 ${fmt(r.baselineRate)}/s`,
  )
line('cached valid key', r1, 0.5)
line('unknown key', r2, 0.5)
line(`cold SQLite, 1,000 keys in use of ${fmt(TOTAL)}`, r3, 0.2)
line(`cold SQLite, 100,000 keys in use of ${fmt(TOTAL)}`, r4, 0.2)
console.log(
  `verify memory with cache full (${fmt(size.found)} entries): rss ${mib(mem.rss)}, heap used ${mib(mem.heapUsed)}`,
)

await cached.close()
await cold.close()
await store.close()
db.close()
