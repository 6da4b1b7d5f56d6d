import { describe, expect, it } from 'vitest'
import { SPELLINGS_OF_1_2_3_4 } from '../../test/fixtures/addresses.js'
import { createFailedAuthLimiter } from './failed-auth.js'
import { createMemoryLimiter } from './memory.js'
import type { Limiter } from './types.js'

function setup(options: { limit?: number; windowMs?: number; ipv6PrefixBits?: number } = {}) {
  let now = 1_700_000_000_000
  const limiter = createMemoryLimiter({ clock: { now: () => now } })
  const failedAuth = createFailedAuthLimiter({ limiter, limit: 3, windowMs: 60_000, ...options })
  return { limiter, failedAuth, advance: (ms: number) => (now += ms) }
}

describe('createFailedAuthLimiter', () => {
  it('blocks a client after limit failures and lets one attempt back per interval', async () => {
    const { failedAuth, advance } = setup()
    for (let i = 0; i < 3; i++) {
      expect(await failedAuth.isBlocked('203.0.113.7')).toBe(false)
      await failedAuth.recordFailure('203.0.113.7')
    }
    await expect(failedAuth.check('203.0.113.7')).resolves.toEqual({
      blocked: true,
      retryAfterMs: 20_000,
    })
    // Failures while blocked do not deepen the block.
    await failedAuth.recordFailure('203.0.113.7')
    expect((await failedAuth.check('203.0.113.7')).retryAfterMs).toBe(20_000)
    advance(19_999)
    expect(await failedAuth.isBlocked('203.0.113.7')).toBe(true)
    advance(1)
    expect(await failedAuth.isBlocked('203.0.113.7')).toBe(false)
    expect(await failedAuth.isBlocked('203.0.113.8')).toBe(false)
  })

  it('counts IPv6 clients per /64 and IPv4-mapped addresses as IPv4', async () => {
    const { failedAuth } = setup({ limit: 2 })
    await failedAuth.recordFailure('2001:db8:1:2::1')
    await failedAuth.recordFailure('2001:db8:1:2:ffff:ffff:ffff:ffff')
    expect(await failedAuth.isBlocked('2001:db8:1:2::99')).toBe(true)
    expect(await failedAuth.isBlocked('2001:db8:1:3::1')).toBe(false)
    await failedAuth.recordFailure('::ffff:198.51.100.1')
    await failedAuth.recordFailure('198.51.100.1')
    expect(await failedAuth.isBlocked('198.51.100.1')).toBe(true)
  })

  it('counts IPv4-mapped IPv6 in every spelling as the IPv4 address, in one counter', async () => {
    const { failedAuth } = setup({ limit: SPELLINGS_OF_1_2_3_4.length })
    for (const spelling of SPELLINGS_OF_1_2_3_4) {
      expect([spelling, await failedAuth.isBlocked('1.2.3.4')]).toEqual([spelling, false])
      await failedAuth.recordFailure(spelling)
    }
    for (const spelling of SPELLINGS_OF_1_2_3_4)
      expect([spelling, await failedAuth.isBlocked(spelling)]).toEqual([spelling, true])
    // neighbours, and IPv6 addresses in ::/64, are other clients
    for (const other of ['1.2.3.5', '::ffff:102:305', '::1', '::1.2.3.4'])
      expect([other, await failedAuth.isBlocked(other)]).toEqual([other, false])
    await failedAuth.reset('::ffff:102:304')
    expect(await failedAuth.isBlocked('1.2.3.4')).toBe(false)
  })

  it('never charges a key sharing the same limiter', async () => {
    const { limiter, failedAuth } = setup()
    const rules = [{ name: 'default', limit: 10, windowMs: 60_000 }]
    const quota = { limit: 100, periodMs: 86_400_000 }
    for (let i = 0; i < 5; i++) await failedAuth.recordFailure('203.0.113.7')
    const peek = await limiter.consume({ partition: 'key:key_a', rules, quota, cost: 0 })
    expect(peek.policies.map((p) => p.remaining)).toEqual([10, 100])
  })

  it('never blocks an unknown address and forgets a client on reset', async () => {
    const { failedAuth } = setup({ limit: 1 })
    await failedAuth.recordFailure(undefined)
    expect(await failedAuth.isBlocked(undefined)).toBe(false)
    await failedAuth.recordFailure('203.0.113.7')
    expect(await failedAuth.isBlocked('203.0.113.7')).toBe(true)
    await failedAuth.reset('203.0.113.7')
    expect(await failedAuth.isBlocked('203.0.113.7')).toBe(false)
  })

  it('tells a blocked client when one attempt is back, for a limit that does not divide its window', async () => {
    // T = ceil(1 000 000 / 7) µs: seven failures put the bucket 1 000 006 µs ahead
    const { failedAuth, advance } = setup({ limit: 7, windowMs: 1000 })
    for (let i = 0; i < 7; i++) await failedAuth.recordFailure('203.0.113.7')
    const status = await failedAuth.check('203.0.113.7')
    expect(status).toEqual({ blocked: true, retryAfterMs: 144 })
    advance(142)
    expect(await failedAuth.isBlocked('203.0.113.7')).toBe(true)
    advance(2)
    expect(await failedAuth.isBlocked('203.0.113.7')).toBe(false)
  })

  it('uses the default of 20 failures per minute', async () => {
    let now = 0
    const limiter = createMemoryLimiter({ clock: { now: () => now } })
    const failedAuth = createFailedAuthLimiter({ limiter })
    for (let i = 0; i < 19; i++) await failedAuth.recordFailure('203.0.113.9')
    expect(await failedAuth.isBlocked('203.0.113.9')).toBe(false)
    await failedAuth.recordFailure('203.0.113.9')
    expect(await failedAuth.check('203.0.113.9')).toEqual({ blocked: true, retryAfterMs: 3000 })
    now += 3000
    expect(await failedAuth.isBlocked('203.0.113.9')).toBe(false)
  })

  it('counts IPv6 clients per network of ipv6PrefixBits', async () => {
    const { failedAuth } = setup({ limit: 1, ipv6PrefixBits: 48 })
    await failedAuth.recordFailure('2001:db8:1:2::1')
    expect(await failedAuth.isBlocked('2001:db8:1:ffff::1')).toBe(true)
    expect(await failedAuth.isBlocked('2001:db8:2::1')).toBe(false)
  })

  it('counts under failed-auth:<network> partitions of the limiter it is given', async () => {
    const { limiter, failedAuth } = setup()
    await failedAuth.recordFailure('203.0.113.7')
    const rules = [{ name: 'failed-auth', limit: 3, windowMs: 60_000 }]
    const peek = await limiter.consume({ partition: 'failed-auth:203.0.113.7', rules, cost: 0 })
    expect(peek.policies[0]!.remaining).toBe(2)
  })

  it('closes only a limiter it created', async () => {
    const { limiter, failedAuth } = setup({ limit: 1 })
    await failedAuth.recordFailure('203.0.113.7')
    await failedAuth.close()
    // the caller's limiter still holds the failure
    const again = createFailedAuthLimiter({ limiter, limit: 1 })
    expect(await again.isBlocked('203.0.113.7')).toBe(true)
    const own = createFailedAuthLimiter()
    await own.recordFailure('203.0.113.7')
    await own.close()
  })

  it('never blocks when the limiter reports no state (a backend down, failing closed)', async () => {
    const down: Limiter = {
      kind: 'down',
      consume: async () => ({
        allowed: false,
        code: 'store_unavailable',
        policies: [],
        retryAfterMs: 1000,
      }),
      reset: async () => {},
      close: async () => {},
    }
    const failedAuth = createFailedAuthLimiter({ limiter: down, limit: 1 })
    await failedAuth.recordFailure('203.0.113.7')
    expect(await failedAuth.check('203.0.113.7')).toEqual({ blocked: false })
  })

  it('accepts IPv6 prefixes of 1 and 128 bits', async () => {
    for (const ipv6PrefixBits of [1, 128]) {
      const failedAuth = createFailedAuthLimiter({ ipv6PrefixBits, limit: 1 })
      await failedAuth.recordFailure('2001:db8::1')
      expect(await failedAuth.isBlocked('2001:db8::1')).toBe(true)
      // one bit: every address of 0::/1 is one client; 128 bits: each address is its own
      expect(await failedAuth.isBlocked('2001:db8::2')).toBe(ipv6PrefixBits === 1)
      await failedAuth.close()
    }
  })

  it.each([
    [{ limit: 0 }, '"limit" must be a positive integer, got 0'],
    [{ ipv6PrefixBits: 129 }, '"ipv6PrefixBits" must be an integer from 1 to 128, got 129'],
    [{ windowMS: 5 }, 'unknown option "windowMS" for createFailedAuthLimiter'],
    [{ windowMs: 0 }, '"windowMs" must be a positive integer, got 0'],
    [{ ipv6PrefixBits: 0 }, '"ipv6PrefixBits" must be an integer from 1 to 128, got 0'],
    [{ ipv6PrefixBits: 1.5 }, '"ipv6PrefixBits" must be an integer from 1 to 128, got 1.5'],
    [{ limiter: {} }, '"limiter" must be a Limiter'],
  ])('rejects %j', (options, message) => {
    expect(() => createFailedAuthLimiter(options as never)).toThrow(message)
  })
})
