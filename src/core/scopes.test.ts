import { describe, expect, it } from 'vitest'
import {
  assertValidRole,
  assertValidScope,
  compileScopes,
  expandRoles,
  isValidRole,
  isValidScope,
  matchScope,
} from './scopes.js'

const part = (n: number) => `a${'b'.repeat(n - 1)}`

describe('scope grammar', () => {
  it.each([
    'orders',
    'orders:read',
    'orders:*',
    '*',
    '*:read',
    '0rders:read',
    'a:b_c.d-e:f',
    part(64),
    `${part(64)}:${part(64)}`,
    Array(8).fill('a').join(':'),
  ])('accepts %s', (scope) => {
    expect(isValidScope(scope)).toBe(true)
    expect(() => assertValidScope(scope)).not.toThrow()
  })

  it.each([
    '',
    'Orders:read',
    'orders:Read',
    '_orders:read',
    '-orders',
    '.orders',
    'orders:',
    ':read',
    'orders::read',
    'orders read',
    'orders:read ',
    ' orders:read',
    'orders:re*d',
    '**',
    'orders/read',
    part(65),
    `orders:${part(65)}`,
    Array(9).fill('a').join(':'),
  ])('refuses %j', (scope) => {
    expect(isValidScope(scope)).toBe(false)
  })

  it('says what was wrong and what a scope looks like', () => {
    expect(() => assertValidScope('Orders:Read')).toThrow(
      expect.objectContaining({
        name: 'KeywardError',
        code: 'invalid_argument',
        message:
          'scope "Orders:Read" is not valid: use resource:action with lowercase letters, digits, "_", "." or "-" in each part, or "*" for a whole part (e.g. "orders:read", "orders:*")',
      }),
    )
  })
})

describe('role grammar', () => {
  it.each(['reader', 'r', 'billing-admin', 'a.b_c-1', part(64)])('accepts %s', (role) => {
    expect(isValidRole(role)).toBe(true)
    expect(() => assertValidRole(role)).not.toThrow()
  })

  it.each(['', 'Reader', '1reader', '_reader', 'billing admin', 'a:b', '*', part(65), ' reader'])(
    'refuses %j',
    (role) => {
      expect(isValidRole(role)).toBe(false)
    },
  )

  it('says what was wrong and what a role looks like', () => {
    expect(() => assertValidRole('Billing')).toThrow(
      expect.objectContaining({
        name: 'KeywardError',
        code: 'invalid_argument',
        message:
          'role "Billing" is not valid: use lowercase letters, digits, "_", "." or "-", starting with a letter',
      }),
    )
  })
})

describe('matchScope', () => {
  it.each([
    ['*', 'orders:read'],
    ['*', 'orders'],
    ['orders:read', 'orders:read'],
    ['orders:*', 'orders:read'],
    ['*:read', 'orders:read'],
    ['*:*', 'orders:read'],
    ['orders:*:all', 'orders:read:all'],
  ])('%s grants %s', (granted, required) => {
    expect(matchScope(granted, required)).toBe(true)
  })

  it.each([
    ['orders:read', 'orders:write'],
    ['orders:*', 'ordersx:read'],
    ['orders:*', 'orders:read:all'],
    ['orders:*', 'orders'],
    ['orders', 'orders:read'],
    ['*:read', 'orders:write'],
    ['orders:*:all', 'orders:read:some'],
    ['orders:read', 'orders:*'],
  ])('%s does not grant %s', (granted, required) => {
    expect(matchScope(granted, required)).toBe(false)
  })
})

describe('compileScopes', () => {
  // 8 or fewer scopes are scanned, more go in a Set: both must answer alike
  const filler = Array.from({ length: 10 }, (_, i) => `filler:s${i}`)

  for (const [label, extra] of [
    ['a few scopes', []],
    ['many scopes', filler],
  ] as const) {
    describe(label, () => {
      it('grants exact scopes and wildcard matches, nothing else', () => {
        const set = compileScopes([...extra, 'orders:read', 'invoices:*'])
        expect(set.has('orders:read')).toBe(true)
        expect(set.has('invoices:read')).toBe(true)
        expect(set.has('invoices:write')).toBe(true)
        expect(set.has('orders:write')).toBe(false)
        expect(set.has('invoicesx:read')).toBe(false)
        expect(set.has('invoices:read:all')).toBe(false)
        expect(set.missing(['orders:read', 'invoices:read'])).toEqual([])
        expect(set.missing(['orders:write', 'orders:read', 'users:read'])).toEqual([
          'orders:write',
          'users:read',
        ])
      })

      it('grants everything with a lone *', () => {
        const set = compileScopes([...extra, '*'])
        expect(set.has('anything:at:all')).toBe(true)
        expect(set.missing(['a', 'b:c'])).toEqual([])
      })

      it('grants only exact scopes when none has a wildcard', () => {
        const set = compileScopes([...extra, 'orders:read'])
        expect(set.has('orders:read')).toBe(true)
        expect(set.has('orders:write')).toBe(false)
        expect(set.missing(['orders:write'])).toEqual(['orders:write'])
      })
    })
  }

  it('fails closed on an empty scope read from a store: it grants nothing', () => {
    expect(compileScopes(['']).has('orders:read')).toBe(false)
    expect(compileScopes(['', 'orders:read']).missing(['users:read'])).toEqual(['users:read'])
  })

  it('grants nothing when empty, and keeps the scopes it was built from', () => {
    const set = compileScopes([])
    expect(set.has('orders:read')).toBe(false)
    expect(set.missing(['orders:read'])).toEqual(['orders:read'])
    expect(compileScopes(['a:b', 'c:*']).scopes).toEqual(['a:b', 'c:*'])
  })
})

describe('expandRoles', () => {
  const roles = new Map([
    ['reader', ['orders:read', 'invoices:read']],
    ['writer', ['orders:write', 'orders:read']],
  ])

  it('adds the scopes of each role once, after the granted ones, in order', () => {
    expect(expandRoles(['users:read', 'orders:read'], ['reader', 'writer'], roles)).toEqual([
      'users:read',
      'orders:read',
      'invoices:read',
      'orders:write',
    ])
  })

  it('adds nothing for a role that is not defined', () => {
    expect(expandRoles(['users:read'], ['ghost'], roles)).toEqual(['users:read'])
  })
})
