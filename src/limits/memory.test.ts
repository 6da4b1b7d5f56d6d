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

  it('drops an idempotency record at the very instant its TTL ends', async () => {
    let now = 0
    const limiter = createMemoryLimiter({ clock: { now: () => now }, idempotencyTtlMs: 500 })
    // the rule keeps the partition for 6 s, past the record
    const rules = [{ name: 'default', limit: 10, windowMs: 60_000 }]
    const at = (operation: string) =>
      limiter.consume({ partition: 'key:i', rules, idempotencyKey: 'x', operation })
    await at('POST /a')
    now = 499
    expect(limiter.sweep()).toBe(0)
    expect(await at('POST /b')).toMatchObject({ allowed: false, code: 'idempotency_key_reused' })
    now = 500
    // the key is free again: another operation is a first request, not a reuse
    expect(await at('POST /b')).toMatchObject({ allowed: true })
    expect(limiter.size()).toEqual({ partitions: 1, idempotencyRecords: 1 })
    now = 1000
    expect(limiter.sweep()).toBe(1)
    expect(limiter.size()).toEqual({ partitions: 1, idempotencyRecords: 0 })
    await limiter.close()
  })

  it('keeps no partition whose state ended at the instant of a cost-0 request', async () => {
    const limiter = createMemoryLimiter()
    const rules = [{ name: 'default', limit: 1, windowMs: 1000 }]
    await limiter.consume({ partition: 'key:end', rules, nowMs: 0 })
    expect(limiter.size().partitions).toBe(1)
    const peek = await limiter.consume({ partition: 'key:end', rules, cost: 0, nowMs: 1000 })
    expect(peek.policies[0]).toMatchObject({ remaining: 1 })
    expect(limiter.size().partitions).toBe(0)
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

describe('createMemoryLimiter: state over time', () => {
  it('judges every rule of a rule set longer than its scratch space', async () => {
    const limiter = createMemoryLimiter()
    // 12 rules: more than the 8 the decision's scratch array starts with
    const rules = Array.from({ length: 12 }, (_, i) => ({
      name: `r${i}`,
      limit: 20 - i,
      windowMs: 60_000,
    }))
    const first = await limiter.consume({ partition: 'key:many', rules, nowMs: 0 })
    expect(first.allowed).toBe(true)
    expect(first.policies.map((p) => p.remaining)).toEqual(rules.map((r) => r.limit - 1))
    // the last rule (limit 9) is the first to run out
    for (let i = 1; i < 9; i++) await limiter.consume({ partition: 'key:many', rules, nowMs: 0 })
    const refused = await limiter.consume({ partition: 'key:many', rules, nowMs: 0 })
    expect(refused).toMatchObject({ allowed: false, code: 'rate_limited' })
    expect(refused.policies.map((p) => p.remaining)).toEqual(rules.map((r) => r.limit - 9))
    await limiter.close()
  })

  it('starts expired state afresh, whatever rule set used it before', async () => {
    const limiter = createMemoryLimiter()
    const one = [{ name: 'a', limit: 2, windowMs: 1000 }]
    const two = [
      { name: 'a', limit: 2, windowMs: 1000 },
      { name: 'b', limit: 3, windowMs: 1000 },
    ]
    const quota = { limit: 5, periodMs: 1000 }
    await limiter.consume({ partition: 'key:x', rules: one, quota, nowMs: 0 })
    await limiter.consume({ partition: 'key:x', rules: one, quota, nowMs: 0 })
    // everything expired at 1000: the same rule set and another one both start full
    const same = await limiter.consume({ partition: 'key:x', rules: one, quota, nowMs: 1000 })
    expect(same.policies.map((p) => p.remaining)).toEqual([1, 4])
    const other = await limiter.consume({ partition: 'key:x', rules: two, quota, nowMs: 5000 })
    expect(other.policies.map((p) => p.remaining)).toEqual([1, 2, 4])
    const again = await limiter.consume({ partition: 'key:x', rules: two, nowMs: 5000 })
    expect(again.policies.map((p) => p.remaining)).toEqual([0, 1])
    await limiter.close()
  })

  it('keeps the state of a rule set while another one sharing the partition is used', async () => {
    const limiter = createMemoryLimiter()
    const a = [{ name: 'a', limit: 3, windowMs: 60_000 }]
    const b = [{ name: 'b', limit: 3, windowMs: 60_000 }]
    const ab = [...a, ...b]
    const at = (rules: typeof a, cost = 1) =>
      limiter.consume({ partition: 'owner:o', rules, cost, nowMs: 0 })
    await at(a)
    await at(b)
    await at(b)
    // a, then b, then a again: each keeps its own count across the switches
    expect((await at(a, 0)).policies[0]!.remaining).toBe(2)
    expect((await at(b, 0)).policies[0]!.remaining).toBe(1)
    expect((await at(ab, 0)).policies.map((p) => p.remaining)).toEqual([2, 1])
    await at(ab)
    expect((await at(a, 0)).policies[0]!.remaining).toBe(1)
    expect((await at(b, 0)).policies[0]!.remaining).toBe(0)
    await limiter.close()
  })

  it('starts a new quota period at the very instant the last one ends', async () => {
    const limiter = createMemoryLimiter()
    // the rule keeps the partition alive past the quota period
    const rules = [{ name: 'slow', limit: 2, windowMs: 10_000 }]
    const quota = { limit: 1, periodMs: 1000 }
    const at = (nowMs: number) => limiter.consume({ partition: 'key:q', rules, quota, nowMs })
    expect((await at(0)).allowed).toBe(true)
    expect(await at(999)).toMatchObject({
      allowed: false,
      code: 'quota_exhausted',
      retryAfterMs: 1,
    })
    const next = await at(1000)
    expect(next.allowed).toBe(true)
    expect(next.policies[1]).toMatchObject({ remaining: 0, resetMs: 1000 })
    await limiter.close()
  })

  it('starts no quota period on a replay: the next first request starts it', async () => {
    const limiter = createMemoryLimiter()
    // the rule keeps the partition alive, and charges the replay
    const rules = [{ name: 'slow', limit: 10, windowMs: 60_000 }]
    const quota = { limit: 5, periodMs: 1000 }
    const at = (nowMs: number, idempotencyKey?: string) =>
      limiter.consume({
        partition: 'key:r',
        rules,
        quota,
        nowMs,
        ...(idempotencyKey === undefined ? {} : { idempotencyKey, operation: 'POST /a' }),
      })
    expect((await at(0, 'k')).allowed).toBe(true)
    // the period [0, 1000) has ended when the retry comes
    expect(await at(1500, 'k')).toMatchObject({ allowed: true, replayed: true })
    const next = await at(1600)
    expect(next.policies[1]).toMatchObject({ remaining: 4, resetMs: 1000 })
    await limiter.close()
  })

  it('reports no credits left, never fewer than none, after a quota was lowered', async () => {
    const limiter = createMemoryLimiter()
    const at = (limit: number, cost = 1) =>
      limiter.consume({
        partition: 'key:low',
        rules: [],
        quota: { limit, periodMs: 60_000 },
        cost,
        nowMs: 0,
      })
    await at(10, 5)
    const lowered = await at(2, 0)
    expect(lowered.policies[0]).toMatchObject({ remaining: 0 })
    expect(await at(2)).toMatchObject({ allowed: false, code: 'quota_exhausted' })
    await limiter.close()
  })

  it('forgets everything on close()', async () => {
    const limiter = createMemoryLimiter()
    // what logs and health checks name it
    expect(limiter.kind).toBe('memory')
    const rules = [{ name: 'default', limit: 1, windowMs: 60_000 }]
    await limiter.consume({ partition: 'key:c', rules, idempotencyKey: 'i', operation: 'POST /' })
    await limiter.close()
    expect(limiter.size()).toEqual({ partitions: 0, idempotencyRecords: 0 })
    await limiter.close()
  })

  it('does not keep the process alive', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const before = timers()
    const limiter = createMemoryLimiter()
    // an unref'd timer is not listed as an active resource
    expect(timers()).toBe(before)
    await limiter.close()
  })

  it('sweeps expired state on its own, every sweepIntervalMs', async () => {
    let now = 0
    const limiter = createMemoryLimiter({ clock: { now: () => now }, sweepIntervalMs: 5 })
    await limiter.consume({ partition: 'key:s', rules: [{ name: 'a', limit: 1, windowMs: 10 }] })
    expect(limiter.size().partitions).toBe(1)
    now = 10
    // no request touches it again: only the timer can drop it
    while (limiter.size().partitions > 0) await new Promise((r) => setTimeout(r, 5))
    expect(limiter.size().partitions).toBe(0)
    await limiter.close()
  })

  it.each([
    [{ idempotencyTtlMs: '5' }, '"idempotencyTtlMs" must be a positive integer, got "5"'],
    [{ idempotencyTtlMs: 1.5 }, '"idempotencyTtlMs" must be a positive integer, got 1.5'],
    [{ sweepIntervalMs: 0 }, '"sweepIntervalMs" must be a positive integer, got 0'],
    [{ clock: {} }, '"clock" must have a now() method'],
  ])('rejects %j with invalid_options', (options, message) => {
    expect(() => createMemoryLimiter(options as never)).toThrow(message)
    expect(() => createMemoryLimiter(options as never)).toThrow(
      expect.objectContaining({ code: 'invalid_options' }),
    )
  })
})
