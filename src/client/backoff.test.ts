import { describe, expect, it } from 'vitest'
import { backoffDelayMs, isRetryable, retryAfterMs } from './backoff.js'

const NOW = Date.parse('2030-01-01T00:00:00Z')

describe('retryAfterMs', () => {
  it.each([
    [null, undefined],
    ['0', 0],
    ['3', 3000],
    [' 120 ', 120_000],
    ['Tue, 01 Jan 2030 00:00:07 GMT', 7000], // IMF-fixdate
    ['Tuesday, 01-Jan-30 00:00:02 GMT', 2000], // RFC 850
    ['Mon, 31 Dec 2029 23:59:00 GMT', 0], // in the past: now
    ['1.5', undefined],
    ['-1', undefined],
    ['soon', undefined],
    ['2030-01-01T00:00:09Z', undefined], // not an HTTP-date
  ])('%j -> %j', (value, expected) => {
    expect(retryAfterMs(value, NOW)).toBe(expected)
  })

  it('reads the asctime form (no zone: Date.parse takes local time)', () => {
    expect(retryAfterMs('Tue Jan  1 00:00:05 2030', 0)).toBeGreaterThan(0)
  })
})

describe('backoffDelayMs (full jitter)', () => {
  it('spans [0, base * 2^n), capped by maxDelayMs', () => {
    expect(backoffDelayMs(0, 200, 10_000, 0)).toBe(0)
    expect(backoffDelayMs(0, 200, 10_000, 0.999)).toBe(199)
    expect(backoffDelayMs(3, 200, 10_000, 0.5)).toBe(800)
    expect(backoffDelayMs(10, 200, 10_000, 0.999)).toBe(9990)
    expect(backoffDelayMs(1_000, 200, 10_000, 0.5)).toBe(5000)
  })
})

describe('isRetryable', () => {
  it.each([
    ['GET', false, true],
    ['HEAD', false, true],
    ['OPTIONS', false, true],
    ['PUT', false, true],
    ['DELETE', false, true],
    ['POST', false, false],
    ['PATCH', false, false],
    ['PURGE', false, false],
    ['POST', true, true],
    ['PATCH', true, true],
  ])('%s with Idempotency-Key %s -> %s', (method, hasKey, expected) => {
    expect(isRetryable(method, hasKey)).toBe(expected)
  })
})
