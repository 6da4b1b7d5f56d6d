import { randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { crc32Ascii } from './crc32.js'

describe('crc32Ascii', () => {
  it('equals the zlib CRC-32', () => {
    expect(crc32Ascii('')).toBe(0)
    expect(crc32Ascii('123456789')).toBe(0xcbf43926) // the standard check value
    for (let i = 0; i < 50; i++) {
      const text = randomBytes(1 + i * 3).toString('base64url')
      expect(crc32Ascii(text), text).toBe(crc32(text))
    }
  })

  it('covers only the characters before `end`', () => {
    const text = 'kw_live_abcdefXYZ012'
    expect(crc32Ascii(text, 14)).toBe(crc32(text.slice(0, 14)))
    expect(crc32Ascii(text, 0)).toBe(0)
  })
})
