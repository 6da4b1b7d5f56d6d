import { describe, expect, it } from 'vitest'
import {
  BASE62,
  decodeBase62Int,
  encodeBase62Bytes,
  encodeBase62Int,
  randomBase62,
} from './base62.js'

/** The number a base62 text stands for, computed independently with BigInt. */
const numberOf = (text: string) =>
  [...text].reduce((n, c) => n * 62n + BigInt(BASE62.indexOf(c)), 0n)

describe('base62', () => {
  it('uses 0-9A-Za-z in that order', () => {
    expect(BASE62).toBe('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz')
  })

  it('encodes bytes as one big-endian number, padded to the width', () => {
    expect(encodeBase62Bytes(Uint8Array.of(), 3)).toBe('000')
    expect(encodeBase62Bytes(Uint8Array.of(61), 1)).toBe('z')
    expect(encodeBase62Bytes(Uint8Array.of(62), 4)).toBe('0010')
    expect(encodeBase62Bytes(Uint8Array.of(1, 0), 1)).toBe('48') // 256 = 4 * 62 + 8
    const bytes = Uint8Array.of(0, 0, 255, 1, 2, 3, 128, 64, 250, 7)
    const hex = BigInt(`0x${Buffer.from(bytes).toString('hex')}`)
    const text = encodeBase62Bytes(bytes, 20)
    expect(text).toHaveLength(20)
    expect(numberOf(text)).toBe(hex)
    expect(encodeBase62Bytes(new Uint8Array(32).fill(255), 43)).toMatch(/^[0-9A-Za-z]{43}$/)
  })

  it('encodes integers, padded to the width', () => {
    expect(encodeBase62Int(0, 6)).toBe('000000')
    expect(encodeBase62Int(61, 2)).toBe('0z')
    expect(encodeBase62Int(62, 2)).toBe('10')
    expect(encodeBase62Int(0xffffffff, 6)).toBe('4gfFC3')
    expect(numberOf(encodeBase62Int(123_456_789, 6))).toBe(123_456_789n)
  })

  it('decodes the range [start, end) of a text, every character of the alphabet included', () => {
    expect(decodeBase62Int('xx4gfFC3yy', 2, 8)).toBe(0xffffffff)
    expect(decodeBase62Int('', 0, 0)).toBe(0)
    for (let i = 0; i < 62; i++) expect(decodeBase62Int(`1${BASE62[i]}`, 0, 2)).toBe(62 + i)
  })

  it.each(['/', ':', '@', '[', '`', '{', '_', '-', 'é'])('answers -1 for %j', (c) => {
    expect(decodeBase62Int(`0${c}1`, 0, 3)).toBe(-1)
    expect(decodeBase62Int(`${c}1`, 1, 2)).toBe(1)
  })

  it('makes random text of the asked length from the alphabet only', () => {
    for (const length of [1, 16, 43, 500])
      expect(randomBase62(length)).toMatch(new RegExp(`^[0-9A-Za-z]{${length}}$`))
  })

  it('draws every character equally often (no modulo bias)', () => {
    // 200,000 draws: about 3,226 per character, with a standard deviation near 57; a byte
    // mapped twice would make its character about 25 % more frequent
    const counts = new Map<string, number>()
    for (const c of randomBase62(200_000)) counts.set(c, (counts.get(c) ?? 0) + 1)
    expect(counts.size).toBe(62)
    const mean = 200_000 / 62
    for (const [c, n] of counts) expect(Math.abs(n - mean), c).toBeLessThan(mean * 0.1)
  })
})
