import { crc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { BASE62 } from './base62.js'
import { crc32Ascii } from './crc32.js'
import {
  classifyCredential,
  generateKey,
  generateKeyId,
  generateUuidKey,
  hideKeys,
  isValidPrefix,
  keyHint,
} from './key-format.js'

describe('generateKey', () => {
  it('has the DESIGN.md shape: prefix, 43 random and 6 checksum base62 characters', () => {
    const key = generateKey()
    expect(key).toMatch(/^kw_live_[0-9A-Za-z]{49}$/)
    expect(classifyCredential(key)).toBe('keyward')
  })

  it('uses custom prefixes and refuses bad ones with a clear message', () => {
    expect(generateKey({ prefix: 'acme_test' })).toMatch(/^acme_test_[0-9A-Za-z]{49}$/)
    expect(() => generateKey({ prefix: 'Acme' })).toThrow(
      /prefix "Acme" is not valid: use 1-16 lowercase/,
    )
    expect(() => generateKey({ prefix: 'a_b_c' })).toThrow(/not valid/)
  })

  it('computes the checksum as the zlib CRC32 of prefix_random', () => {
    const key = generateKey()
    const head = key.slice(0, -6)
    expect(crc32Ascii(head)).toBe(crc32(head))
    let n = crc32(head)
    let encoded = ''
    while (n > 0) {
      encoded = BASE62[n % 62] + encoded
      n = Math.floor(n / 62)
    }
    expect(key.slice(-6)).toBe(encoded.padStart(6, '0'))
  })

  it('spreads characters evenly (no modulo bias in ids)', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 2000; i++)
      for (const c of generateKeyId().slice(4)) counts.set(c, (counts.get(c) ?? 0) + 1)
    expect(counts.size).toBe(62)
    const mean = (2000 * 16) / 62
    for (const n of counts.values()) expect(Math.abs(n - mean)).toBeLessThan(mean * 0.35)
  })

  it('makes UUID keys on request', () => {
    expect(generateUuidKey()).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
  })
})

describe('classifyCredential', () => {
  const good = generateKey()
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1)
  it.each([
    ['empty', ''],
    ['whitespace', '   '],
    ['5 KiB', 'a'.repeat(5120)],
    ['non-ASCII', `kw_live_${'é'.repeat(49)}`],
    ['Cyrillic look-alike prefix', good.replace('kw', 'кw')],
    ['fullwidth prefix', good.replace('kw', 'ｋｗ')],
    ['control character', `${good.slice(0, 20)}\u0000${good.slice(21)}`],
    ['inner space', `${good.slice(0, 20)} ${good.slice(21)}`],
    ['capital prefix', good.replace('kw_live', 'KW_live')],
    ['wrong checksum', flip(good, good.length - 1)],
    ['changed random', flip(good, 12)],
    ['too short', 'abc'],
  ])('%s is invalid', (_name, value) => {
    expect(classifyCredential(value)).toBe('invalid')
  })

  it('treats other visible ASCII of 16+ characters as a possible imported secret', () => {
    expect(classifyCredential(generateUuidKey())).toBe('opaque')
  })

  it('hints show only 4+4 characters of the secret', () => {
    const hint = keyHint(good)
    expect(hint).toBe(`kw_live_${good.slice(8, 12)}…${good.slice(-4)}`)
    expect(isValidPrefix('kw_test')).toBe(true)
  })
})

describe('prefix grammar on keys', () => {
  const body = generateKey().slice(8, -6)
  const make = (prefix: string) => {
    const head = `${prefix}_${body}`
    return head + generateKey({ prefix: 'x' }).slice(-6) // wrong checksum is fine: shape is what matters here
  }
  it.each(['a', 'kw_live', 'a0_b', `${'a'.repeat(16)}_${'b'.repeat(16)}`])(
    'accepts the shape of prefix %s',
    (prefix) => {
      expect(isValidPrefix(prefix)).toBe(true)
      expect(classifyCredential(generateKey({ prefix }))).toBe('keyward')
    },
  )
  it.each(['0a', 'a__b', 'a_b_c', 'a_', `${'a'.repeat(17)}`, `a_${'b'.repeat(17)}`, 'A', 'a-b'])(
    'refuses prefix %s',
    (prefix) => {
      expect(isValidPrefix(prefix)).toBe(false)
      expect(classifyCredential(make(prefix))).toBe('invalid')
    },
  )
})

describe('hideKeys', () => {
  it('replaces every keyward-shaped string by its hint, and leaves the rest as it is', () => {
    const a = generateKey()
    const b = generateKey({ prefix: 'acme_test' })
    expect(hideKeys(`scope "${a}" is not valid; nor ${b}.`)).toBe(
      `scope "${keyHint(a)}" is not valid; nor ${keyHint(b)}.`,
    )
    // inside a longer word it is not a key; plain text has no underscore to look at
    expect(hideKeys(`${a}x`)).toBe(`${a}x`)
    expect(hideKeys('role "Billing" is not valid')).toBe('role "Billing" is not valid')
  })
})
