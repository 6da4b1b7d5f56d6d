import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { expectFeedsHearEachOther, recorder, until } from '../../../test/helpers/changes.js'
import { describeWithService, uniqueName } from '../../../test/helpers/services.js'
import type { ChangeFeed } from '../../core/changes.js'
import { createKeyward } from '../../core/keyward.js'
import { createMemoryStore } from '../memory/index.js'
import { createRedisChangeFeed, type RedisChangeClient } from './redis-changes.js'

const peppers = [{ version: 1, secret: 'redis-changes-pepper-0123456789abcdefghij' }]

describeWithService('redis', 'Redis change feed', (url) => {
  let client: Redis
  const feeds: ChangeFeed[] = []
  const feed = (keyPrefix: string, timeoutMs?: number, c: RedisChangeClient = client) => {
    const f = createRedisChangeFeed({
      client: c,
      keyPrefix,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    })
    feeds.push(f)
    return f
  }
  /** `CLIENT LIST` ids of the subscriber connections of `prefix`'s feeds. */
  const subscriberIds = async (prefix: string): Promise<string[]> =>
    ((await client.client('LIST')) as string)
      .split('\n')
      .filter((line) => line.includes(` name=${prefix}:changes `))
      .map((line) => /^id=(\d+)/.exec(line)![1]!)

  beforeAll(() => {
    client = new Redis(url)
  })
  afterEach(async () => {
    for (const f of feeds.splice(0)) await f.close()
  })
  afterAll(async () => {
    await client.quit()
  })

  it('tells the other feeds of the prefix, not itself, nor feeds of another prefix', async () => {
    const prefix = uniqueName('kw_feed')
    await expectFeedsHearEachOther(feed(prefix), feed(prefix), feed(uniqueName('kw_other')))
  })

  it('resubscribes after its connection is killed and drops the cache once subscribed again', async () => {
    const prefix = uniqueName('kw_feed')
    const store = createMemoryStore()
    const a = await createKeyward({ store, peppers, changes: feed(prefix) })
    const rb = recorder()
    const bFeed = feed(prefix)
    bFeed.subscribe(rb.listener)
    const b = await createKeyward({ store, peppers, cache: { ttlMs: 3_600_000 }, changes: bFeed })
    await until(async () => (await subscriberIds(prefix)).length === 2, 'both subscribed')
    await until(() => rb.resets() >= 1, 'b subscribed')

    const { key, record } = await a.createKey({ name: 'x' })
    expect((await b.verify(key)).ok).toBe(true)
    // a change nobody heard (made while b's channel was away), then the channel is lost
    await store.updateKey(record.id, { state: 'revoked', revokedAt: 1, updatedAt: 1 })
    const before = await subscriberIds(prefix)
    const resets = rb.resets()
    for (const id of before) await client.client('KILL', 'ID', id)
    await until(() => rb.resets() > resets, 'b to subscribe again')
    expect(rb.errors[0]).toMatchObject({ code: 'store_unavailable' })
    expect(await b.verify(key)).toMatchObject({ code: 'key_revoked' })

    // both on new connections, and hearing changes again
    const fresh = async () => (await subscriberIds(prefix)).filter((id) => !before.includes(id))
    await until(async () => (await fresh()).length === 2, 'both subscribed again')
    const next = await a.createKey({ name: 'y' })
    expect((await b.verify(next.key)).ok).toBe(true)
    await a.revokeKey(next.record.id)
    await until(() => rb.changes().length > 0, 'b to hear the revocation')
    expect(await b.verify(next.key)).toMatchObject({ code: 'key_revoked' })
    await Promise.all([a.close(), b.close()])
  })

  it('fails a publish Redis does not take in time with a clear error', async () => {
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, retryStrategy: () => 1000 })
    down.on('error', () => {})
    const f = feed(uniqueName('kw_feed'), 100, down)
    await expect(f.publish({ kind: 'roles' })).rejects.toMatchObject({
      code: 'store_unavailable',
      message: 'cannot publish on Redis: Redis did not take the change within 100 ms',
    })
    down.disconnect()
  })

  it('refuses bad options, naming them', () => {
    expect(() => createRedisChangeFeed({ client: {} as never })).toThrow(
      /"client" must be an ioredis client/,
    )
    expect(() => createRedisChangeFeed({ client, keyPrefix: 'a b' })).toThrow(
      /"keyPrefix" must match/,
    )
    expect(() => createRedisChangeFeed({ client, timeoutMs: 0 })).toThrow(
      /"timeoutMs" must be a whole number of ms >= 1, got 0/,
    )
  })
})
