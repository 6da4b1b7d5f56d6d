import { describe, expect, it } from 'vitest'
import { createFailedAuthLimiter, type FailedAuthLimiter } from '../limits/failed-auth.js'
import { createMemoryLimiter } from '../limits/memory.js'
import { failedAuthGate } from './failed-auth-gate.js'

// The gate in front of the failed-auth limiter: which clients it lets through without asking
// the limiter, and which ones it asks (test/http/limits.test.ts covers it over HTTP).

function clock(start = 1_700_000_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

describe('failedAuthGate with { limit, windowMs }', () => {
  it('asks the limiter only for networks with a failure in the last window', async () => {
    const time = clock()
    const gate = failedAuthGate({ limit: 2, windowMs: 10_000 }, time)
    expect(gate.check('203.0.113.7')).toBeUndefined()
    gate.record('203.0.113.7')
    expect(await gate.check('203.0.113.7')).toEqual({ blocked: false })
    // another address, an unknown one: nothing to ask
    expect(gate.check('203.0.113.8')).toBeUndefined()
    expect(gate.check(undefined)).toBeUndefined()
    expect(gate.check('not an address')).toBeUndefined()
    gate.record('203.0.113.7')
    expect(await gate.check('203.0.113.7')).toMatchObject({ blocked: true })
    time.advance(9_999)
    expect(gate.check('203.0.113.7')).toBeDefined()
    time.advance(1)
    // a window without failures: the client cannot be blocked any more
    expect(gate.check('203.0.113.7')).toBeUndefined()
  })

  it('keeps a blocked client blocked through failures from 10,000 other networks', async () => {
    // past 10,000 networks the gate forgets those whose window has ended, and only those
    const time = clock()
    const gate = failedAuthGate({ limit: 1, windowMs: 60_000 }, time)
    gate.record('198.51.100.1')
    time.advance(1)
    for (let i = 0; i < 10_001; i++) gate.record(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)
    expect(await gate.check('198.51.100.1')).toMatchObject({ blocked: true })
  })

  it('remembers a failure for the default window of a minute', () => {
    const time = clock()
    const gate = failedAuthGate({ limit: 1 }, time)
    gate.record('198.51.100.1')
    time.advance(59_999)
    expect(gate.check('198.51.100.1')).toBeDefined()
    time.advance(1)
    expect(gate.check('198.51.100.1')).toBeUndefined()
  })

  it('asks for every IPv6 address of the first 16 bits, and counts per /64', async () => {
    const time = clock()
    const gate = failedAuthGate({ limit: 1, windowMs: 60_000 }, time)
    gate.record('2001:db8:1:2::1')
    expect(await gate.check('2001:db8:1:2::99')).toMatchObject({ blocked: true })
    // same 16-bit bucket, another /64: asked, and not blocked
    expect(await gate.check('2001:ffff::1')).toEqual({ blocked: false })
    expect(gate.check('2002::1')).toBeUndefined()
  })

  it('keeps buckets no finer than the limiter networks of a short ipv6PrefixBits', async () => {
    const time = clock()
    const gate = failedAuthGate({ limit: 1, ipv6PrefixBits: 8 }, time)
    gate.record('2001:db8::1')
    // 2001::/8 and 20ff::/8 are one network for the limiter: the gate must ask for both
    expect(await gate.check('20ff::1')).toMatchObject({ blocked: true })
  })

  it('records nothing for an unknown address', () => {
    const gate = failedAuthGate({ limit: 1 }, clock())
    gate.record(undefined)
    gate.record('garbage')
    expect(gate.check('127.0.0.1')).toBeUndefined()
  })

  it('is one gate per options object, so guards built from it share one count', async () => {
    const time = clock()
    const options = { limit: 1, windowMs: 60_000 }
    failedAuthGate(options, time).record('192.0.2.1')
    expect(await failedAuthGate(options, time).check('192.0.2.1')).toMatchObject({ blocked: true })
    expect(failedAuthGate({ limit: 1, windowMs: 60_000 }, time).check('192.0.2.1')).toBeUndefined()
  })
})

describe('failedAuthGate with a limiter', () => {
  it('asks the limiter on every request, since failures may come from other servers', async () => {
    const limiter = createFailedAuthLimiter({ limiter: createMemoryLimiter(), limit: 1 })
    const gate = failedAuthGate(limiter, clock())
    expect(await gate.check('192.0.2.1')).toEqual({ blocked: false })
    // a failure recorded elsewhere, straight on the limiter
    await limiter.recordFailure('192.0.2.1')
    expect(await gate.check('192.0.2.1')).toMatchObject({ blocked: true })
    gate.record('192.0.2.2')
    await new Promise((resolve) => setImmediate(resolve))
    expect(await limiter.isBlocked('192.0.2.2')).toBe(true)
  })

  it('ignores a limiter that fails to record', async () => {
    const failing: FailedAuthLimiter = {
      check: async () => ({ blocked: false }),
      isBlocked: async () => false,
      recordFailure: () => Promise.reject(new Error('down')),
      reset: async () => {},
      close: async () => {},
    }
    const unhandled: unknown[] = []
    const listener = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', listener)
    try {
      failedAuthGate(failing, clock()).record('192.0.2.1')
      await new Promise((resolve) => setTimeout(resolve, 10))
    } finally {
      process.off('unhandledRejection', listener)
    }
    expect(unhandled).toEqual([])
  })
})
