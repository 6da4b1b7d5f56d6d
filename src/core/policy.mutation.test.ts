// The expiry policy (which maximum age applies, which keys are past it or expire soon) and the
// Retry-After rule.
import { describe, expect, it } from 'vitest'
import { isExpiringWithin, isPastPolicy, maxAgeOf } from './policy.js'
import { STORE_RETRY_AFTER_SECONDS, toRetryAfterSeconds } from './retry.js'

const DAY = 86_400_000
const NOW = Date.UTC(2026, 6, 1)
const policy = { maxAgeMs: 90 * DAY, owners: { 'svc:short': 7 * DAY } }
const key = {
  ownerId: null as string | null,
  state: 'active' as const,
  expiresAt: null as number | null,
  createdAt: NOW - 90 * DAY,
}

describe('maxAgeOf', () => {
  it("takes the owner's maximum age, else the global one", () => {
    expect(maxAgeOf({ ownerId: 'svc:short' }, policy)).toBe(7 * DAY)
    expect(maxAgeOf({ ownerId: 'svc:other' }, policy)).toBe(90 * DAY)
    expect(maxAgeOf({ ownerId: null }, policy)).toBe(90 * DAY)
    expect(maxAgeOf({ ownerId: 'svc:other' }, { maxAgeMs: null, owners: {} })).toBeNull()
  })
})

describe('isPastPolicy', () => {
  it('flags an active key whose current secret is at least as old as its maximum age', () => {
    expect(isPastPolicy(key, policy, NOW)).toBe(true)
    expect(isPastPolicy({ ...key, createdAt: NOW - 90 * DAY + 1 }, policy, NOW)).toBe(false)
    // a rotation renews the secret: its age counts from then
    expect(isPastPolicy({ ...key, rotatedAt: NOW - DAY }, policy, NOW)).toBe(false)
    expect(isPastPolicy({ ...key, rotatedAt: NOW - 91 * DAY }, policy, NOW)).toBe(true)
    // an owner's shorter maximum age applies to its keys
    const owned = { ...key, ownerId: 'svc:short', createdAt: NOW - 8 * DAY }
    expect(isPastPolicy(owned, policy, NOW)).toBe(true)
    expect(isPastPolicy({ ...owned, ownerId: 'svc:other' }, policy, NOW)).toBe(false)
  })

  it('flags nothing without a maximum age, and no key that no longer verifies', () => {
    expect(isPastPolicy(key, { maxAgeMs: null, owners: {} }, NOW)).toBe(false)
    expect(isPastPolicy({ ...key, state: 'revoked' }, policy, NOW)).toBe(false)
    expect(isPastPolicy({ ...key, state: 'disabled' }, policy, NOW)).toBe(false)
    expect(isPastPolicy({ ...key, expiresAt: NOW }, policy, NOW)).toBe(false)
    // a key that expires later is still active, so still flagged
    expect(isPastPolicy({ ...key, expiresAt: NOW + 1 }, policy, NOW)).toBe(true)
  })
})

describe('isExpiringWithin', () => {
  it('is true for an active key that expires after now and within the window', () => {
    const active = { state: 'active' as const }
    expect(isExpiringWithin({ ...active, expiresAt: NOW + DAY }, NOW, DAY)).toBe(true)
    expect(isExpiringWithin({ ...active, expiresAt: NOW + 1 }, NOW, DAY)).toBe(true)
    expect(isExpiringWithin({ ...active, expiresAt: NOW + DAY + 1 }, NOW, DAY)).toBe(false)
    expect(isExpiringWithin({ ...active, expiresAt: NOW }, NOW, DAY)).toBe(false)
    expect(isExpiringWithin({ ...active, expiresAt: null }, NOW, DAY)).toBe(false)
    expect(isExpiringWithin({ state: 'disabled', expiresAt: NOW + 1 }, NOW, DAY)).toBe(false)
  })
})

describe('toRetryAfterSeconds', () => {
  it('rounds a wait up to whole seconds, at least 1', () => {
    expect(toRetryAfterSeconds(1200)).toBe(2)
    expect(toRetryAfterSeconds(1000)).toBe(1)
    expect(toRetryAfterSeconds(2001)).toBe(3)
    expect(toRetryAfterSeconds(1)).toBe(1)
    expect(toRetryAfterSeconds(0)).toBe(1)
    expect(STORE_RETRY_AFTER_SECONDS).toBe(5)
  })
})
