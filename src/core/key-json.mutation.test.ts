// The JSON shapes the CLI's --json and the service's API show: a key, a secret, the expiry
// policy and an audit event, field by field.
import { describe, expect, it } from 'vitest'
import { auditEventToJson, isoTime, keyToJson, policyToJson, secretToJson } from './key-json.js'
import type { KeyRecord, SecretRecord } from './types.js'

const T = Date.UTC(2026, 0, 1)
const ISO = '2026-01-01T00:00:00.000Z'

function record(overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    id: 'key_0123456789abcdef',
    name: 'billing',
    ownerId: 'svc:billing',
    prefix: 'kw_live',
    hint: 'kw_live_AbCd…wxyz',
    scopes: ['orders:read'],
    roles: ['reader'],
    rateLimits: [{ name: 'burst', limit: 20, windowMs: 1000 }],
    quota: { limit: 1000, periodMs: 30 * 86_400_000 },
    metadata: { team: 'payments' },
    ipAllowlist: ['10.0.0.0/8'],
    state: 'active',
    createdAt: T,
    updatedAt: T + 1000,
    expiresAt: T + 86_400_000,
    revokedAt: null,
    lastUsedAt: T + 60_000,
    usageCount: 7,
    ...overrides,
  }
}

describe('isoTime', () => {
  it('writes epoch ms as ISO 8601 UTC, and keeps null', () => {
    expect(isoTime(T)).toBe(ISO)
    expect(isoTime(0)).toBe('1970-01-01T00:00:00.000Z')
    expect(isoTime(null)).toBeNull()
  })
})

describe('keyToJson', () => {
  it('shows every field, durations in units and times in ISO 8601', () => {
    expect(keyToJson(record(), 'active')).toEqual({
      id: 'key_0123456789abcdef',
      name: 'billing',
      owner: 'svc:billing',
      status: 'active',
      prefix: 'kw_live',
      hint: 'kw_live_AbCd…wxyz',
      scopes: ['orders:read'],
      roles: ['reader'],
      rateLimits: [{ name: 'burst', limit: 20, window: '1s' }],
      quota: { limit: 1000, period: '30d' },
      metadata: { team: 'payments' },
      ipAllowlist: ['10.0.0.0/8'],
      createdAt: ISO,
      updatedAt: '2026-01-01T00:00:01.000Z',
      expiresAt: '2026-01-02T00:00:00.000Z',
      revokedAt: null,
      lastUsedAt: '2026-01-01T00:01:00.000Z',
      usageCount: 7,
      rotatedAt: null,
    })
  })

  it('shows a key without quota, expiry or use, revoked and rotated', () => {
    const json = keyToJson(
      record({
        quota: null,
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: T + 2000,
        rotatedAt: T + 500,
        ownerId: null,
        rateLimits: [],
      }),
      'revoked',
    )
    expect(json).toMatchObject({
      owner: null,
      status: 'revoked',
      rateLimits: [],
      quota: null,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: '2026-01-01T00:00:02.000Z',
      rotatedAt: '2026-01-01T00:00:00.500Z',
    })
  })
})

describe('secretToJson', () => {
  const secret: SecretRecord = {
    hash: 'never-shown',
    keyId: 'key_0123456789abcdef',
    pepperVersion: 2,
    hint: 'kw_live_AbCd…wxyz',
    imported: false,
    createdAt: T,
    expiresAt: null,
  }

  it('shows the current secret without its hash', () => {
    expect(secretToJson(secret, T)).toEqual({
      hint: 'kw_live_AbCd…wxyz',
      state: 'current',
      current: true,
      createdAt: ISO,
      expiresAt: null,
      lastUsedAt: null,
      imported: false,
      pepperVersion: 2,
    })
  })

  it('shows an old secret in its grace period until it ends, then expired', () => {
    const old = { ...secret, expiresAt: T + 1000, lastUsedAt: T + 10, imported: true }
    expect(secretToJson(old, T + 999)).toMatchObject({
      state: 'grace',
      current: false,
      expiresAt: '2026-01-01T00:00:01.000Z',
      lastUsedAt: '2026-01-01T00:00:00.010Z',
      imported: true,
    })
    expect(secretToJson(old, T + 1000)).toMatchObject({ state: 'expired', current: false })
  })
})

describe('policyToJson', () => {
  it('shows the maximum age as a duration, or null', () => {
    expect(policyToJson(90 * 86_400_000, true)).toEqual({ maxAge: '90d', pastPolicy: true })
    expect(policyToJson(null, false)).toEqual({ maxAge: null, pastPolicy: false })
  })
})

describe('auditEventToJson', () => {
  it('names the action `type` and writes the time in ISO 8601', () => {
    expect(
      auditEventToJson({
        id: 'evt_0123456789abcdef',
        seq: 4,
        at: T,
        action: 'key.denied',
        keyId: 'key_0123456789abcdef',
        actor: null,
        ip: '198.51.100.4',
        details: { code: 'key_revoked' },
        count: 3,
        prevHash: 'a'.repeat(64),
        hash: 'b'.repeat(64),
      }),
    ).toEqual({
      id: 'evt_0123456789abcdef',
      seq: 4,
      at: ISO,
      type: 'key.denied',
      keyId: 'key_0123456789abcdef',
      actor: null,
      ip: '198.51.100.4',
      details: { code: 'key_revoked' },
      count: 3,
    })
  })
})
