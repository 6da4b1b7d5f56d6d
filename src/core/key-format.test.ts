import { crc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { BASE62 } from './base62.js'
import { crc32Ascii } from './crc32.js'
import {
  assertValidPrefix,
  classifyCredential,
  classifyShape,
  generateKey,
  generateKeyId,
  generateUuidKey,
  hasValidChecksum,
  hideKeys,
  isKeyId,
  isValidPrefix,
  keyHint,
  prefixOf,
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

describe('credential shapes at their edges', () => {
  const key = generateKey()
  const body = key.slice(8)
  const ascii = (length: number) => 'x'.repeat(length)
  /** A key with any prefix and a correct checksum, computed here with zlib's CRC-32. */
  const forge = (prefix: string) => {
    const head = `${prefix}_${body.slice(0, 43)}`
    let n = crc32(head)
    let checksum = ''
    for (let i = 0; i < 6; i++, n = Math.floor(n / 62)) checksum = BASE62[n % 62] + checksum
    return head + checksum
  }

  it.each(['kw_live', 'a', `${'a'.repeat(16)}_${'b'.repeat(16)}`])(
    'a forged key with the valid prefix %s is a key',
    (prefix) => {
      expect(classifyCredential(forge(prefix))).toBe('keyward')
    },
  )

  it.each([
    'a_b_c',
    'a__b',
    'kw_',
    'kW_live',
    'k-w',
    'kw_li-ve',
    `${'a'.repeat(17)}`,
    `a_${'b'.repeat(17)}`,
    '{w',
    '`w',
    '0w',
    'kw_lïve',
  ])('a key with a correct checksum but the malformed prefix %j is refused', (prefix) => {
    expect(classifyCredential(forge(prefix))).toBe('invalid')
  })

  it('a keyward key is recognised by its shape and checksum, whatever its valid prefix', () => {
    for (const prefix of ['z', 'zz_z9', 'a0', `a_${'9'.repeat(16)}`])
      expect(classifyCredential(generateKey({ prefix })), prefix).toBe('keyward')
    expect(classifyShape(key)).toBe('keyward')
  })

  it('checks the shape without the checksum in classifyShape, and the checksum apart', () => {
    const wrong = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0')
    expect(classifyShape(wrong)).toBe('keyward')
    expect(hasValidChecksum(wrong)).toBe(false)
    expect(hasValidChecksum(key)).toBe(true)
    expect(classifyCredential(wrong)).toBe('invalid')
  })

  it.each([
    ['a prefix starting with "`"', `\`w_live_${body}`],
    ['a prefix starting with "{"', `{w_live_${body}`],
    ['a prefix starting with "_"', `_w_live_${body}`],
    ['an empty second prefix part', `kw__${body}`],
    ['a non-ASCII second part', `kw_lïve_${body}`],
    ['a body with "_"', `kw_live_${body.slice(0, 20)}_${body.slice(21)}`],
    ['a body with "-"', `kw_live_${body.slice(0, 20)}-${body.slice(21)}`],
    ['a body with "é"', `kw_live_${body.slice(0, 20)}é${body.slice(21)}`],
    ['a body with "{"', `kw_live_${body.slice(0, 20)}{${body.slice(21)}`],
    ['an empty prefix', `_${body}`],
  ])('%s is not a keyward key', (_name, credential) => {
    expect(classifyShape(credential)).not.toBe('keyward')
    expect(classifyCredential(credential)).not.toBe('keyward')
  })

  it('a keyward-shaped credential with a malformed prefix is a broken key, not a secret', () => {
    expect(classifyCredential(`Acme_${body}`)).toBe('invalid')
    expect(classifyCredential(`a_b_c_${body}`)).toBe('invalid')
    expect(classifyCredential(`kw_live-${body}`)).toBe('opaque') // no "_" before the body
    expect(classifyCredential(`_${body}`)).toBe('opaque') // no prefix at all
    expect(classifyCredential(`Acme_${'-'.repeat(49)}`)).toBe('opaque') // not a base62 body
  })

  it('imported secrets are visible ASCII of 16 to 256 characters', () => {
    expect(classifyCredential(ascii(15))).toBe('invalid')
    expect(classifyCredential(ascii(16))).toBe('opaque')
    expect(classifyCredential(ascii(256))).toBe('opaque')
    expect(classifyCredential(ascii(257))).toBe('invalid')
    expect(classifyCredential(`!${ascii(14)}~`)).toBe('opaque')
    expect(classifyCredential(`${ascii(15)}\u007f`)).toBe('invalid')
    expect(classifyCredential(`${ascii(15)} `)).toBe('invalid')
    expect(classifyCredential(`${ascii(15)}\u0080`)).toBe('invalid')
  })

  it('the prefix of a key, and none for other credentials', () => {
    expect(prefixOf(key)).toBe('kw_live')
    expect(prefixOf(generateKey({ prefix: 'acme' }))).toBe('acme')
    expect(prefixOf(generateUuidKey())).toBeNull()
    expect(prefixOf(`_${body}`)).toBeNull()
    expect(prefixOf(`kw_live_${body}x`)).toBeNull()
  })

  it('hints show the prefix, 4 and 4 characters of any credential', () => {
    const acme = generateKey({ prefix: 'acme' })
    expect(keyHint(acme)).toBe(`acme_${acme.slice(5, 9)}…${acme.slice(-4)}`)
    const uuid = generateUuidKey()
    expect(keyHint(uuid)).toBe(`${uuid.slice(0, 4)}…${uuid.slice(-4)}`)
  })

  it('key ids are key_ and 16 base62 characters', () => {
    const id = generateKeyId()
    expect(id).toMatch(/^key_[0-9A-Za-z]{16}$/)
    expect(isKeyId(id)).toBe(true)
    for (const bad of [
      `x${id}`,
      `${id}x`,
      id.slice(0, -1),
      `kex_${id.slice(4)}`,
      `key_${'-'.repeat(16)}`,
    ])
      expect(isKeyId(bad), bad).toBe(false)
  })

  it('prefixes are checked with a clear message, and kw_live is the default', () => {
    expect(generateKey()).toMatch(/^kw_live_/)
    expect(() => assertValidPrefix('kw-live')).toThrow(
      expect.objectContaining({
        name: 'KeywardError',
        code: 'invalid_argument',
        message:
          'prefix "kw-live" is not valid: use 1-16 lowercase letters or digits starting with a letter, optionally followed by _ and 1-16 more (e.g. "kw_live", "acme_test")',
      }),
    )
    expect(() => assertValidPrefix('kw_live')).not.toThrow()
    for (const bad of ['xkw_live!', ' kw', 'kw ']) expect(isValidPrefix(bad), bad).toBe(false)
  })
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
