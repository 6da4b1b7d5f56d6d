import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type OwnCluster, ownCluster } from '../../test/fixtures/redis-cluster.js'
import { createRedisLimiter } from './redis.js'

// A real three-node Redis Cluster of this test's own (private ports), not the shared Redis.

describe('redis limiter on a Redis Cluster', () => {
  let cluster: OwnCluster
  let client: Cluster

  beforeAll(async () => {
    cluster = await ownCluster()
    client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })))
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve)
      client.once('error', reject)
    })
  }, 60_000)

  afterAll(async () => {
    client?.disconnect()
    await cluster?.stop()
  })

  const rules = [{ name: 'default', limit: 10, windowMs: 60_000 }]
  // made inside each test: mutation testing attributes the code a test runs to it, and code run
  // in beforeAll to none
  const newLimiter = () =>
    createRedisLimiter({ client, keyPrefix: 'kwcluster', failurePolicy: 'fail-closed' })

  it('admits exactly the limit of concurrent requests for one key', async () => {
    const limiter = newLimiter()
    const decisions = await Promise.all(
      Array.from({ length: 40 }, () => limiter.consume({ partition: 'key:one', rules })),
    )
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10)
    expect(decisions.filter((d) => d.code === 'rate_limited')).toHaveLength(30)
    expect(limiter.isAvailable).toBe(true)
  })

  it('keeps keys on every node exact, each state with a TTL', async () => {
    const limiter = newLimiter()
    const partitions = Array.from({ length: 60 }, (_, i) => `key:spread-${i}`)
    const small = [{ name: 'default', limit: 2, windowMs: 60_000 }]
    const decisions = await Promise.all(
      partitions.flatMap((partition) =>
        [1, 2, 3].map(() => limiter.consume({ partition, rules: small })),
      ),
    )
    expect(decisions.filter((d) => d.allowed)).toHaveLength(2 * partitions.length)
    // the partitions really are spread over the three masters, and nothing lives forever
    const masters = client.nodes('master')
    expect(masters).toHaveLength(3)
    for (const node of masters) {
      const keys = await node.keys('kwcluster:*spread-*')
      expect(keys.length).toBeGreaterThan(0)
      for (const key of keys) expect(await node.pttl(key)).toBeGreaterThan(0)
    }
  })

  it('replays a retry free of quota, refuses a reused key (state and record share a slot)', async () => {
    const limiter = newLimiter()
    const quota = { limit: 5, periodMs: 86_400_000 }
    const request = {
      partition: 'key:idem',
      rules,
      quota,
      idempotencyKey: 'order-42',
      operation: 'POST /orders',
    }
    const first = await limiter.consume(request)
    const retry = await limiter.consume(request)
    expect(first.allowed).toBe(true)
    expect(retry).toMatchObject({ allowed: true, replayed: true })
    const reused = await limiter.consume({ ...request, operation: 'POST /refunds' })
    expect(reused).toMatchObject({ allowed: false, code: 'idempotency_key_reused' })
    const next = await limiter.consume({ partition: 'key:idem', rules, quota })
    expect(next.policies.map((p) => p.remaining)).toEqual([7, 3])
    const slot = await client.cluster('KEYSLOT', 'kwcluster:l:{key:idem}')
    expect(await client.cluster('KEYSLOT', 'kwcluster:i:{key:idem}:order-42')).toBe(slot)
  })
})
