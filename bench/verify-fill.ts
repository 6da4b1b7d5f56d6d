// bench/verify's fill, run in a child process: writes TOTAL keys into a fresh SQLite file and
// prints the first SAMPLE of them, one per line, on stdout. A server that verifies keys opens a
// file that something else filled; filling it in the measuring process would leave a million
// records' worth of heap behind and measure that instead.
// Usage: node --import tsx bench/verify-fill.ts FILE TOTAL SAMPLE
import { rmSync } from 'node:fs'
import Database from 'better-sqlite3'
import { createHasher, generateKey, keyHint } from '../src/index.js'
import { createSqliteStore } from '../src/stores/sqlite/index.js'
import type { KeyRecord, SecretRecord } from '../src/stores/types.js'
import { makeKey, makeSecret } from '../test/fixtures/records.js'
import { BENCH_PEPPERS } from './lib.js'

const [path, totalArg, sampleArg] = process.argv.slice(2)
const TOTAL = Number(totalArg)
const SAMPLE = Number(sampleArg)
if (!path || !Number.isSafeInteger(TOTAL) || !Number.isSafeInteger(SAMPLE)) {
  console.error('usage: verify-fill.ts FILE TOTAL SAMPLE')
  process.exit(2)
}
const BATCH = 50_000

for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
const store = createSqliteStore({ db: new Database(path) })
await store.migrate()
const hasher = createHasher(BENCH_PEPPERS)
const sample: string[] = []
for (let done = 0; done < TOTAL; done += BATCH) {
  const rows: { key: KeyRecord; secret: SecretRecord }[] = []
  for (let i = done; i < Math.min(TOTAL, done + BATCH); i++) {
    const key = generateKey()
    if (sample.length < SAMPLE) sample.push(key)
    const hint = keyHint(key)
    const record = makeKey({
      name: `bench-${i}`,
      ownerId: `svc:${i % 100}`,
      prefix: 'kw_live',
      hint,
      scopes: ['orders:read'],
    })
    rows.push({ key: record, secret: makeSecret(record.id, { hash: hasher.hash(key), hint }) })
  }
  await store.insertKeys(rows)
}
await store.close()
process.stdout.write(`${sample.join('\n')}\n`)
