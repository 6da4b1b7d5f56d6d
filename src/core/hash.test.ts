import { createHmac, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createHasher, Hmac256 } from './hash.js'

const reference = (key: Buffer, message: string) =>
  createHmac('sha256', key).update(message).digest('base64url')

describe('Hmac256', () => {
  const keys = [
    Buffer.from('p'.repeat(32)),
    Buffer.from('k'.repeat(64)), // exactly one block
    Buffer.from('x'.repeat(65)), // longer than a block: hashed first
    Buffer.from('ü-pepper-'.repeat(12)), // multi-byte, over a block
    randomBytes(48),
  ]
  const messages = [
    '',
    'kw_live_3kTMd2Hq8AbCdEfGhIjKlMnOpQrStUvWxYz012345',
    randomBytes(200).toString('base64url'),
    'ünïcödé and emoji 🔑',
    'lone surrogate \ud800 here',
    'a'.repeat(1024), // the largest message of the reused buffer
    'é'.repeat(1024), // two bytes each
    'b'.repeat(1025), // one past it
    '🔑'.repeat(3000), // far past it, four bytes per pair
  ]

  it('equals createHmac for every key and message, in any order of calls', () => {
    for (const key of keys) {
      const hmac = new Hmac256(key)
      for (const m of [...messages, ...messages.slice().reverse()])
        expect(hmac.digest(m), `${key.length}-byte key, ${m.length}-unit message`).toBe(
          reference(key, m),
        )
    }
  })

  it('leaves no part of a message in its reused buffer', () => {
    const hmac = new Hmac256(keys[0]!)
    hmac.digest('kw_live_secretsecretsecret')
    const inner = (hmac as unknown as { inner: Buffer }).inner
    expect(inner.subarray(64).every((b) => b === 0)).toBe(true)
  })
})

describe('createHasher', () => {
  it('hashes with the newest pepper by default and with any configured version on request', () => {
    const v1 = 'a'.repeat(40)
    const v2 = 'b'.repeat(40)
    const hasher = createHasher([
      { version: 1, secret: v1 },
      { version: 2, secret: v2 },
    ])
    expect(hasher.hash('kw_live_x')).toBe(reference(Buffer.from(v2), 'kw_live_x'))
    expect(hasher.hash('kw_live_x', 1)).toBe(reference(Buffer.from(v1), 'kw_live_x'))
    expect(() => hasher.hash('kw_live_x', 3)).toThrow(/pepper v3 is not configured/)
  })
})
