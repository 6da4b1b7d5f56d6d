// The input checks of key administration: what each accepts, what it returns, and the words
// of each refusal (the library, the CLI and the server show them as they are).
import { describe, expect, it } from 'vitest'
import { KeywardError } from './errors.js'
import {
  checkExpiry,
  checkIps,
  checkMetadata,
  checkPositiveInt,
  checkQuota,
  checkRateLimits,
  checkScopes,
  checkText,
  isPlainObject,
} from './validate.js'

const refused = (message: string) => new KeywardError('invalid_argument', message)

describe('isPlainObject', () => {
  it('is true for object literals only', () => {
    expect(isPlainObject({})).toBe(true)
    expect(isPlainObject({ a: 1 })).toBe(true)
    for (const v of [null, undefined, [], 'x', 1, new Date(0), new Map(), Object.create(null)])
      expect(isPlainObject(v)).toBe(false)
  })
})

describe('checkText', () => {
  it('accepts 1-200 printable characters, trimmed', () => {
    expect(checkText('  billing  ', 'name')).toBe('billing')
    expect(checkText('x'.repeat(200), 'name')).toBe('x'.repeat(200))
    expect(checkText('é ü', 'name')).toBe('é ü')
  })

  it('refuses empty, blank, too long, control characters and non-strings, naming the field', () => {
    for (const bad of [
      '',
      '   ',
      'x'.repeat(201),
      'a\nb',
      'a\u0000b',
      'a\u001fb',
      'a\u007fb',
      7,
      null,
    ])
      expect(() => checkText(bad, 'owner')).toThrow(
        refused(`owner must be 1-200 printable characters, got ${JSON.stringify(bad)}`),
      )
  })
})

describe('checkPositiveInt', () => {
  it('accepts positive safe integers only', () => {
    expect(checkPositiveInt(1, 'limit')).toBe(1)
    expect(checkPositiveInt(Number.MAX_SAFE_INTEGER, 'limit')).toBe(Number.MAX_SAFE_INTEGER)
    for (const bad of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, '5', null])
      expect(() => checkPositiveInt(bad, 'quota limit')).toThrow(
        refused(`quota limit must be a positive whole number, got ${JSON.stringify(bad)}`),
      )
  })
})

describe('checkRateLimits', () => {
  it('returns the rules with only their three fields', () => {
    const extra = { name: 'burst', limit: 20, windowMs: 1000, note: 'x' }
    expect(checkRateLimits([extra, { name: 'h-1_x', limit: 1000, windowMs: 3_600_000 }])).toEqual([
      { name: 'burst', limit: 20, windowMs: 1000 },
      { name: 'h-1_x', limit: 1000, windowMs: 3_600_000 },
    ])
    expect(checkRateLimits([])).toEqual([])
    expect(checkRateLimits([{ name: `a${'b'.repeat(31)}`, limit: 1, windowMs: 1 }])).toHaveLength(1)
  })

  it('names a bad list, rule, name, duplicate, limit or window', () => {
    expect(() => checkRateLimits('burst' as never)).toThrow(
      refused('rateLimits must be a list of { name, limit, windowMs }'),
    )
    expect(() => checkRateLimits([null as never])).toThrow(
      refused('each rate limit must be { name, limit, windowMs }'),
    )
    // null and ['burst'] would pass the pattern as the text they turn into
    for (const name of ['Burst', '1st', '', `a${'b'.repeat(32)}`, 'a b', 7, null, ['burst']])
      expect(() => checkRateLimits([{ name, limit: 1, windowMs: 1 } as never])).toThrow(
        refused(
          `rate limit name ${JSON.stringify(name)} is not valid: use lowercase letters, digits, "_" or "-", starting with a letter`,
        ),
      )
    expect(() =>
      checkRateLimits([
        { name: 'burst', limit: 1, windowMs: 1 },
        { name: 'burst', limit: 2, windowMs: 2 },
      ]),
    ).toThrow(
      refused(
        'rate limit "burst" is given twice: give each limit its own name (e.g. burst=20/1s, hour=1000/1h)',
      ),
    )
    expect(() => checkRateLimits([{ name: 'burst', limit: 0, windowMs: 1 }])).toThrow(
      refused('rate limit "burst" limit must be a positive whole number, got 0'),
    )
    expect(() => checkRateLimits([{ name: 'burst', limit: 1, windowMs: -5 }])).toThrow(
      refused('rate limit "burst" window must be a positive whole number, got -5'),
    )
  })
})

describe('checkQuota', () => {
  it('returns limit and period, and names what is wrong', () => {
    expect(checkQuota({ limit: 10, periodMs: 60_000, x: 1 } as never)).toEqual({
      limit: 10,
      periodMs: 60_000,
    })
    expect(() => checkQuota([] as never)).toThrow(refused('quota must be { limit, periodMs }'))
    expect(() => checkQuota({ limit: 0, periodMs: 1 })).toThrow(
      refused('quota limit must be a positive whole number, got 0'),
    )
    expect(() => checkQuota({ limit: 1, periodMs: 0 })).toThrow(
      refused('quota period must be a positive whole number, got 0'),
    )
  })
})

describe('checkMetadata', () => {
  it('returns a deep copy of a JSON object up to 4096 bytes', () => {
    const given = { team: 'payments', nested: { list: [1, 2] } }
    const copy = checkMetadata(given)
    expect(copy).toEqual(given)
    copy.nested = 'changed'
    expect(given.nested).toEqual({ list: [1, 2] })
    // {"a":"…"} is 8 bytes around the value
    expect(checkMetadata({ a: 'x'.repeat(4088) })).toEqual({ a: 'x'.repeat(4088) })
  })

  it('refuses other values, more than 4096 bytes and NUL', () => {
    for (const bad of [null, [], 'x'])
      expect(() => checkMetadata(bad)).toThrow(refused('metadata must be a JSON object'))
    expect(() => checkMetadata({ a: 'x'.repeat(4089) })).toThrow(
      refused('metadata is 4097 bytes as JSON: keep it under 4096 bytes'),
    )
    // bytes, not characters: é is 2 bytes
    expect(() => checkMetadata({ a: 'é'.repeat(2045) })).toThrow(
      refused('metadata is 4098 bytes as JSON: keep it under 4096 bytes'),
    )
    expect(() => checkMetadata({ a: 'x\u0000y' })).toThrow(
      refused('metadata must not contain the NUL character (\\u0000)'),
    )
  })
})

describe('checkScopes and checkIps', () => {
  it('drop duplicate scopes and copy the address list', () => {
    expect(checkScopes(['a:read', 'b:write', 'a:read'])).toEqual(['a:read', 'b:write'])
    expect(() => checkScopes('a:read' as never)).toThrow(
      refused('scopes must be a list of strings'),
    )
    expect(() => checkScopes(['a:read', 'NOT A SCOPE'])).toThrow(KeywardError)
    const ips = ['10.0.0.0/8', '2001:db8::1']
    const checked = checkIps(ips)
    expect(checked).toEqual(ips)
    expect(checked).not.toBe(ips)
    expect(() => checkIps('10.0.0.1' as never)).toThrow(
      refused('ipAllowlist must be a list of addresses or CIDR ranges'),
    )
    expect(() => checkIps(['10.0.0.1', 'nowhere'])).toThrow(KeywardError)
  })
})

describe('checkExpiry', () => {
  const now = Date.UTC(2026, 0, 1)

  it('accepts a future time in epoch ms', () => {
    expect(checkExpiry(now + 1, now)).toBe(now + 1)
  })

  it('refuses now, the past, and what is not epoch ms', () => {
    expect(() => checkExpiry(now, now)).toThrow(
      refused('expiresAt 2026-01-01T00:00:00.000Z is in the past: give a future time'),
    )
    expect(() => checkExpiry(now - 1000, now)).toThrow(
      refused('expiresAt 2025-12-31T23:59:59.000Z is in the past: give a future time'),
    )
    for (const bad of ['2027-01-01', 1.5, Number.MAX_SAFE_INTEGER + 2])
      expect(() => checkExpiry(bad as never, now)).toThrow(
        refused(`expiresAt must be epoch milliseconds, got ${JSON.stringify(bad)}`),
      )
  })
})
