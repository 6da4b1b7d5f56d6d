// What an admin event records: who, when, from where, and which fields of a key changed.
import { describe, expect, it } from 'vitest'
import { adminEvent, createdFields, keyChanges, newEventId } from './audit-events.js'
import type { KeyRecord } from './types.js'

const T = Date.UTC(2026, 0, 1)
const before: KeyRecord = {
  id: 'key_0123456789abcdef',
  name: 'billing',
  ownerId: null,
  prefix: 'kw_live',
  hint: 'kw_live_AbCd…wxyz',
  scopes: ['a:read'],
  roles: [],
  rateLimits: [],
  quota: null,
  metadata: { team: 'x' },
  ipAllowlist: [],
  state: 'active',
  createdAt: T,
  updatedAt: T,
  expiresAt: null,
  revokedAt: null,
  lastUsedAt: null,
  usageCount: 0,
}

describe('adminEvent', () => {
  it('records the action, key, time, actor, address and details', () => {
    const e = adminEvent('key.updated', before.id, { actor: 'cli:alice', ip: '10.0.0.1' }, T, {
      n: 1,
    })
    expect(e).toEqual({
      id: expect.stringMatching(/^evt_[0-9A-Za-z]{16}$/),
      at: T,
      action: 'key.updated',
      keyId: before.id,
      actor: 'cli:alice',
      ip: '10.0.0.1',
      details: { n: 1 },
    })
    expect(adminEvent('role.set', null, {}, T, {})).toMatchObject({
      keyId: null,
      actor: null,
      ip: null,
    })
    expect(newEventId()).not.toBe(newEventId())
  })
})

describe('keyChanges', () => {
  it('lists each changed field from and to, and nothing that did not change', () => {
    expect(keyChanges(before, { ...before })).toEqual({})
    expect(keyChanges(before, { ...before, scopes: ['a:read'], metadata: { team: 'x' } })).toEqual(
      {},
    )
    const after: KeyRecord = {
      ...before,
      name: 'billing-2',
      ownerId: 'svc:billing',
      scopes: ['a:read', 'b:read'],
      roles: ['reader'],
      rateLimits: [{ name: 'burst', limit: 1, windowMs: 1000 }],
      quota: { limit: 5, periodMs: 60_000 },
      metadata: { team: 'y' },
      ipAllowlist: ['10.0.0.0/8'],
      state: 'revoked',
      expiresAt: T + 1,
      revokedAt: T + 2,
      // not an admin's change
      updatedAt: T + 3,
      usageCount: 9,
      lastUsedAt: T + 4,
      hint: 'kw_live_Other…abcd',
    }
    expect(keyChanges(before, after)).toEqual({
      name: { from: 'billing', to: 'billing-2' },
      ownerId: { from: null, to: 'svc:billing' },
      scopes: { from: ['a:read'], to: ['a:read', 'b:read'] },
      roles: { from: [], to: ['reader'] },
      rateLimits: { from: [], to: [{ name: 'burst', limit: 1, windowMs: 1000 }] },
      quota: { from: null, to: { limit: 5, periodMs: 60_000 } },
      metadata: { from: { team: 'x' }, to: { team: 'y' } },
      ipAllowlist: { from: [], to: ['10.0.0.0/8'] },
      state: { from: 'active', to: 'revoked' },
      expiresAt: { from: null, to: T + 1 },
      revokedAt: { from: null, to: T + 2 },
    })
  })
})

describe('createdFields', () => {
  it('records the fields of a new key worth keeping, never usage or times of use', () => {
    expect(createdFields({ ...before, expiresAt: T + 1 })).toEqual({
      name: 'billing',
      ownerId: null,
      prefix: 'kw_live',
      hint: 'kw_live_AbCd…wxyz',
      scopes: ['a:read'],
      roles: [],
      rateLimits: [],
      quota: null,
      metadata: { team: 'x' },
      ipAllowlist: [],
      expiresAt: T + 1,
    })
  })
})
