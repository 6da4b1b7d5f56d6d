import { randomBytes } from 'node:crypto'

/** `0-9A-Za-z`, in that order (DESIGN.md). */
export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

const BIG62 = 62n

/** Encodes bytes as one big number in base62, left-padded with `0` to `width`. */
export function encodeBase62Bytes(bytes: Uint8Array, width: number): string {
  let n = 0n
  for (const b of bytes) n = (n << 8n) | BigInt(b)
  let out = ''
  while (n > 0n) {
    out = BASE62[Number(n % BIG62)] + out
    n /= BIG62
  }
  return out.padStart(width, '0')
}

/** Encodes a non-negative safe integer in base62, left-padded with `0` to `width`. */
export function encodeBase62Int(value: number, width: number): string {
  let n = value
  let out = ''
  while (n > 0) {
    out = BASE62[n % 62] + out
    n = Math.floor(n / 62)
  }
  return out.padStart(width, '0')
}

/** Decodes base62 text to a number; -1 when a character is outside the alphabet. */
export function decodeBase62Int(text: string, start: number, end: number): number {
  let n = 0
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i)
    let d: number
    if (c >= 48 && c <= 57) d = c - 48
    else if (c >= 65 && c <= 90) d = c - 55
    else if (c >= 97 && c <= 122) d = c - 61
    else return -1
    n = n * 62 + d
  }
  return n
}

/**
 * Random base62 text of `length` characters. Each character takes one random byte below 248
 * (= 4 × 62), so `byte % 62` is uniform: no modulo bias.
 */
export function randomBase62(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248) out += BASE62[b % 62]
      if (out.length === length) break
    }
  }
  return out
}
