// openKeyward wires the change feeds of its database (and Redis when configured), so that two
// processes opened from the same settings hear each other's changes, and closing stops it.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { until } from '../../test/helpers/changes.js'
import { describeWithService, uniqueName } from '../../test/helpers/services.js'
import { changeChannel } from '../stores/postgres/index.js'
import { type OpenedKeyward, type OpenKeywardOptions, openKeyward } from './open-keyward.js'

const PEPPER = 'open-changes-pepper-0123456789abcdefghijklmnop'
const HOUR = 3_600_000

/** Two openKeyward on the same settings: `a` changes keys, `b` caches for an hour. */
async function pair(
  databaseUrl: string,
  options: Partial<OpenKeywardOptions> = {},
): Promise<[OpenedKeyward, OpenedKeyward]> {
  const open = (cache: boolean) =>
    openKeyward({
      databaseUrl,
      env: { KEYWARD_PEPPER: PEPPER },
      migrate: true,
      ...options,
      keyward: { cache: cache ? { ttlMs: HOUR } : false },
    })
  return [await open(false), await open(true)]
}

/** Creates a key on `a`, caches it on `b`, revokes it on `a`; true when `b` refuses it. */
async function revokedOnB(a: OpenedKeyward, b: OpenedKeyward, waitMs: number): Promise<boolean> {
  const { key, record } = await a.keyward.createKey({ name: 'x' })
  expect((await b.keyward.verify(key)).ok).toBe(true)
  await a.keyward.revokeKey(record.id)
  const end = Date.now() + waitMs
  while (Date.now() < end) {
    if (!(await b.keyward.verify(key)).ok) return true
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return false
}

describe('openKeyward on SQLite', () => {
  it('carries changes through the file by default, and not with changes: false', async () => {
    const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'keyward-open-changes-')), 'k.db')}`
    const [a, b] = await pair(url)
    try {
      expect(await revokedOnB(a, b, 5000)).toBe(true)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
    const [c, d] = await pair(url, { changes: false })
    try {
      // several poll intervals: the feed would have told it by then
      expect(await revokedOnB(c, d, 500)).toBe(false)
    } finally {
      await Promise.all([c.close(), d.close()])
    }
  })
})

describeWithService('postgres', 'openKeyward on PostgreSQL', (url) => {
  const schema = uniqueName('kw_open_changes')
  const pool = new pg.Pool({ connectionString: url })
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await pool.end()
  })
  const listening = async () =>
    (
      await pool.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1', [
        `LISTEN "${changeChannel(schema)}"`,
      ])
    ).rows[0].n as number

  it('listens for changes while open (only with a cache), and stops when closed', async () => {
    const [a, b] = await pair(`${url}?schema=${schema}`)
    try {
      await until(async () => (await listening()) === 1, 'b to listen')
      expect(await revokedOnB(a, b, 5000)).toBe(true)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
    await until(async () => (await listening()) === 0, 'the LISTEN connection to end')
  })
})

describeWithService('redis', 'openKeyward with KEYWARD_REDIS_URL', (redisUrl) => {
  const admin = new Redis(redisUrl)
  afterAll(() => admin.quit())
  /** True once a feed of `prefix` has subscribed (it drops its cache right after). */
  const subscribed = async (prefix: string) =>
    ((await admin.client('LIST')) as string)
      .split('\n')
      .some((line) => line.includes(` name=${prefix}:changes `) && line.includes(' sub=1 '))
  const open = (prefix: string, cache: boolean) =>
    openKeyward({
      databaseUrl: url,
      env: { KEYWARD_PEPPER: PEPPER, KEYWARD_REDIS_URL: redisUrl },
      // Redis only, so that what arrives came over Redis
      changes: { database: false, redisKeyPrefix: prefix },
      keyward: { cache: cache ? { ttlMs: HOUR } : false },
    })
  const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'keyward-open-redis-')), 'k.db')}`

  it('also carries changes over Redis pub/sub, on the channel of its prefix', async () => {
    const prefix = uniqueName('kw_open')
    const [a, b] = [await open(prefix, false), await open(prefix, true)]
    try {
      await until(() => subscribed(prefix), 'b to subscribe')
      expect(await revokedOnB(a, b, 5000)).toBe(true)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
    const other = uniqueName('kw_open')
    const [c, d] = [await open(uniqueName('kw_open'), false), await open(other, true)]
    try {
      await until(() => subscribed(other), 'd to subscribe')
      expect(await revokedOnB(c, d, 500)).toBe(false)
    } finally {
      await Promise.all([c.close(), d.close()])
    }
  })
})
