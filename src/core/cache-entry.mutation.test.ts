// When an old secret of a rotation was superseded (the deprecation a verification reports), and
// what a verified key shares between requests (frozen).
import { describe, expect, it } from 'vitest'
import { cacheEntry, supersession } from './cache-entry.js'
import type { FoundKey, SecretRecord } from './types.js'

const T = Date.UTC(2026, 0, 1)
const HOUR = 3_600_000

function secret(hint: string, createdAt: number, expiresAt: number | null): SecretRecord {
  return {
    hash: `hash-${hint}`,
    keyId: 'key_0123456789abcdef',
    pepperVersion: 1,
    hint,
    imported: false,
    createdAt,
    expiresAt,
  }
}

describe('supersession', () => {
  it("dates an old secret's deprecation from its successor's creation", () => {
    const secrets = [secret('old', T, T + 25 * HOUR), secret('new', T + HOUR, null)]
    const found = supersession(secrets, 'old', T + 25 * HOUR)
    expect(found).toEqual({ deprecatedAt: T + HOUR, sunsetAt: T + 25 * HOUR })
    expect(Object.isFrozen(found)).toBe(true)
  })

  it('takes the earliest successor, even one made in the same millisecond', () => {
    const secrets = [
      secret('newest', T + 2 * HOUR, null),
      secret('middle', T + HOUR, T + 26 * HOUR),
      secret('old', T, T + 25 * HOUR),
    ]
    expect(supersession(secrets, 'old', T + 25 * HOUR)).toEqual({
      deprecatedAt: T + HOUR,
      sunsetAt: T + 25 * HOUR,
    })
    // in either order: stores list secrets oldest first
    expect(supersession([...secrets].reverse(), 'old', T + 25 * HOUR)).toEqual({
      deprecatedAt: T + HOUR,
      sunsetAt: T + 25 * HOUR,
    })
    const sameMs = [secret('old', T, T + HOUR), secret('new', T, null)]
    expect(supersession(sameMs, 'old', T + HOUR)).toEqual({ deprecatedAt: T, sunsetAt: T + HOUR })
    // a successor that lives exactly as long counts
    const equal = [secret('old', T, T + HOUR), secret('next', T + 10, T + HOUR)]
    expect(supersession(equal, 'old', T + HOUR)).toEqual({
      deprecatedAt: T + 10,
      sunsetAt: T + HOUR,
    })
  })

  it('ignores older secrets and ones that end sooner', () => {
    const secrets = [
      secret('older', T - HOUR, null),
      secret('old', T, T + 25 * HOUR),
      secret('short', T + HOUR, T + 24 * HOUR),
      secret('new', T + 2 * HOUR, null),
    ]
    expect(supersession(secrets, 'old', T + 25 * HOUR)).toEqual({
      deprecatedAt: T + 2 * HOUR,
      sunsetAt: T + 25 * HOUR,
    })
  })

  it('is null without the secret, or without a successor', () => {
    const secrets = [secret('old', T, T + HOUR), secret('new', T + 10, null)]
    expect(supersession(secrets, 'gone', T + HOUR)).toBeNull()
    // the same hint with another end is another secret
    expect(supersession(secrets, 'old', T + 2 * HOUR)).toBeNull()
    expect(supersession([secret('old', T, T + HOUR)], 'old', T + HOUR)).toBeNull()
    expect(
      supersession([secret('older', T - 10, null), secret('old', T, T + HOUR)], 'old', T + HOUR),
    ).toBeNull()
  })
})

describe('cacheEntry', () => {
  const row: FoundKey = {
    key: {
      id: 'key_0123456789abcdef',
      name: 'billing',
      ownerId: null,
      prefix: 'kw_live',
      scopes: ['a:read'],
      roles: ['reader'],
      rateLimits: [{ name: 'burst', limit: 1, windowMs: 1000 }],
      quota: { limit: 5, periodMs: 60_000 },
      metadata: { team: 'x' },
      ipAllowlist: [],
      state: 'active',
      expiresAt: null,
    },
    secret: { expiresAt: null },
  }

  it('freezes every part of the verified key a handler could change', () => {
    const entry = cacheEntry(
      structuredClone(row),
      'kw_live_AbCd…wxyz',
      ['a:read', 'b:read'],
      null,
      null,
    )
    const key = entry.success.ok ? entry.success.key : undefined
    expect(key).toMatchObject({
      id: row.key.id,
      hint: 'kw_live_AbCd…wxyz',
      scopes: ['a:read', 'b:read'],
    })
    for (const part of [
      key,
      key?.scopes,
      key?.roles,
      key?.rateLimits,
      key?.rateLimits[0],
      key?.quota,
      key?.metadata,
    ])
      expect(Object.isFrozen(part)).toBe(true)
    expect(entry.success).toEqual({ ok: true, key })
    expect(entry.ips).toBeNull()
    expect(entry.limitRequest).toBeNull()
  })

  it('carries the deprecation of an old secret, and the IP allowlist', () => {
    const deprecation = { deprecatedAt: T + 1, sunsetAt: T + HOUR }
    const withIps = { ...row, key: { ...row.key, ipAllowlist: ['10.0.0.0/8'], quota: null } }
    const entry = cacheEntry(withIps, 'h', [], deprecation, null)
    expect(entry.success).toMatchObject({ ok: true, deprecation })
    expect(entry.deprecation).toBe(deprecation)
    expect(entry.ips?.allows('10.1.2.3')).toBe(true)
    expect(entry.ips?.allows('192.0.2.1')).toBe(false)
  })
})
