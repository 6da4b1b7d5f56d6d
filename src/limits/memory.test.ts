import { describe, expect, it } from 'vitest'
import { describeLimiter } from '../../test/contract/limiter.js'
import { createMemoryLimiter } from './memory.js'

describeLimiter('memory', () => createMemoryLimiter())

describe('createMemoryLimiter', () => {
  it('drops expired partitions lazily and on sweep, on its injected clock', async () => {
    let now = 1_000_000
    const limiter = createMemoryLimiter({ clock: { now: () => now } })
    const rules = [{ name: 'default', limit: 10, windowMs: 1000 }]
    await limiter.consume({ partition: 'key:a', rules, idempotencyKey: 'x', operation: 'POST /' })
    await limiter.consume({ partition: 'key:b', rules: [], quota: { limit: 5, periodMs: 5000 } })
    expect(limiter.size()).toEqual({ partitions: 2, idempotencyRecords: 1 })
    now += 99
    expect(limiter.sweep()).toBe(0)
    now += 1
    // key:a is fully refilled (one request, T = 100 ms); key:b's quota period still runs.
    expect(limiter.sweep()).toBe(1)
    expect(limiter.size()).toEqual({ partitions: 1, idempotencyRecords: 1 })
    now += 86_400_000
    expect(limiter.sweep()).toBe(2)
    expect(limiter.size()).toEqual({ partitions: 0, idempotencyRecords: 0 })
    await limiter.close()
  })

  it('stores nothing for refused or cost-0 requests', async () => {
    const limiter = createMemoryLimiter()
    const rules = [{ name: 'default', limit: 1, windowMs: 1000 }]
    await limiter.consume({ partition: 'key:peek', rules, cost: 0 })
    await limiter.consume({ partition: 'key:big', rules, cost: 2 })
    expect(limiter.size().partitions).toBe(0)
    await limiter.close()
  })

  it.each([
    [{ idempotencyTtlMs: 0 }, '"idempotencyTtlMs" must be a positive integer, got 0'],
    [{ sweepIntervalMs: -5 }, '"sweepIntervalMs" must be a positive integer, got -5'],
    [{ clok: 1 }, 'unknown option "clok" for createMemoryLimiter'],
  ])('rejects bad options %j', (options, message) => {
    expect(() => createMemoryLimiter(options as never)).toThrow(message)
  })
})
