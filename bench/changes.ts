// bench/changes: what a change feed costs verification. Cached verifications of the same keys
// on one SQLite file, by a Keyward without a feed (the baseline) and one with the file's feed
// polling every 100 ms, alternating; then the same while another connection publishes 200
// changes a second for keys neither has cached; and the cost of handling one such change.
// Loops yield to the event loop every 500 verifications, as a server does between requests,
// so that the poller runs during the measurement; rates are per second of CPU time.
import { mkdirSync, rmSync } from 'node:fs'
import Database from 'better-sqlite3'
import { createKeyward, type Keyward } from '../src/index.js'
import { createMemoryChangeBus, createMemoryStore } from '../src/stores/memory/index.js'
import { createSqliteChangeFeed, createSqliteStore } from '../src/stores/sqlite/index.js'
import { BENCH_PEPPERS, fmt, median } from './lib.js'

const dir = '.bench-tmp'
const file = `${dir}/changes.db`
mkdirSync(dir, { recursive: true })
rmSync(file, { force: true })
const store = createSqliteStore({ db: new Database(file) })
await store.migrate()

const writer = await createKeyward({ store, peppers: BENCH_PEPPERS, cache: false })
const keys: string[] = []
for (let i = 0; i < 1000; i++) keys.push((await writer.createKey({ name: `k${i}` })).key)

const feed = createSqliteChangeFeed({ file })
const plain = await createKeyward({ store, peppers: BENCH_PEPPERS })
const fed = await createKeyward({ store, peppers: BENCH_PEPPERS, changes: feed })
for (const k of keys) {
  await plain.verify(k)
  await fed.verify(k)
}

const N = 50_000
const ROUNDS = 21
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Verifications per second of this process's CPU time (user + system): on a shared machine,
 * wall time mostly measures the other processes. The poller's work counts, as it runs here.
 */
async function rate(keyward: Keyward): Promise<number> {
  const start = process.cpuUsage()
  for (let i = 0; i < N; i++) {
    const r = await keyward.verify(keys[i % 1000])
    if (!r.ok) throw new Error(`bench setup broken: ${r.code}`)
    if (i % 500 === 499) await tick()
  }
  const used = process.cpuUsage(start)
  return (N / (used.user + used.system)) * 1e6
}

async function compare(label: string): Promise<void> {
  const ratios: number[] = []
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const b1 = await rate(plain)
    const s = await rate(fed)
    const b2 = await rate(plain)
    ratios.push(s / ((b1 + b2) / 2))
    rates.push(s)
  }
  console.log(
    `bench/changes: ${label}: ${fmt(median(rates))} verifications per CPU second with the feed, ${median(ratios).toFixed(3)}x the same without (median of ${ROUNDS} alternating rounds)`,
  )
}

await compare('cached, feed idle')

// another process's changes, for keys not in either cache: 200 a second
const publisher = createSqliteChangeFeed({ file })
let published = 0
const timer = setInterval(() => {
  const id = `key_${String(published++).padStart(16, '0')}`
  void publisher.publish({ kind: 'key', keyId: id })
}, 5)
await compare('cached, 200 changes/s for other keys arriving')
clearInterval(timer)
console.log(`bench/changes: (${fmt(published)} changes published meanwhile)`)

// the cost of one change heard for a key this process never cached
const bus = createMemoryChangeBus()
const sender = bus.feed()
const receiver = await createKeyward({
  store: createMemoryStore(),
  peppers: BENCH_PEPPERS,
  changes: bus.feed(),
})
// the same publishing on a bus where nobody listens, to subtract publish's own cost
const lonely = createMemoryChangeBus().feed()
const E = 200_000
const ids = Array.from({ length: 4096 }, (_, i) => `key_${String(i).padStart(16, '0')}`)
const perEvent = async (f: typeof sender) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < E; i++) await f.publish({ kind: 'key', keyId: ids[i & 4095]! })
  return Number(process.hrtime.bigint() - start) / E
}
const handled: number[] = []
for (let r = 0; r < ROUNDS; r++) handled.push((await perEvent(sender)) - (await perEvent(lonely)))
console.log(
  `bench/changes: one change heard for a key not in the cache costs about ${Math.max(0, median(handled)).toFixed(0)} ns to handle`,
)

await Promise.all([plain.close(), fed.close(), writer.close(), receiver.close()])
await Promise.all([feed.close(), publisher.close()])
await store.close()
rmSync(file, { force: true })
