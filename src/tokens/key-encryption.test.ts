import { describe, expect, it } from 'vitest'
import { KeywardError } from '../core/errors.js'
import { createKeyEncryption } from './key-encryption.js'

const P1 = 'pepper-one-0123456789abcdefghijklmnopqrstuvwxyz'
const P2 = 'pepper-two-0123456789abcdefghijklmnopqrstuvwxyz'
const S1 = 'signing-one-0123456789abcdefghijklmnopqrstuvwxyz'
const S2 = 'signing-two-0123456789abcdefghijklmnopqrstuvwxyz'
const KID = 'sk_AAAAAAAAAAAAAAAA'
const plaintext = Buffer.from('{"kty":"OKP","d":"private"}')

function caught(fn: () => unknown): KeywardError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(KeywardError)
    return e as KeywardError
  }
  throw new Error('expected a KeywardError')
}

describe('createKeyEncryption', () => {
  it('round-trips, with a fresh IV each time and no plaintext in the envelope', () => {
    const enc = createKeyEncryption({ peppers: [{ version: 1, secret: P1 }] })
    const a = enc.encrypt(KID, plaintext)
    const b = enc.encrypt(KID, plaintext)
    expect(a).toMatch(/^kw1\.p1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
    expect(a).not.toBe(b)
    expect(a).not.toContain(plaintext.toString('base64url'))
    expect(Buffer.from(enc.decrypt(KID, a))).toEqual(plaintext)
    expect(Buffer.from(enc.decrypt(KID, b))).toEqual(plaintext)
    expect(enc.describe).toBe('the pepper v1')
  })

  it('encrypts with the newest signing secret when one is given, else the newest pepper', () => {
    const peppers = [
      { version: 1, secret: P1 },
      { version: 2, secret: P2 },
    ]
    expect(createKeyEncryption({ peppers }).encrypt(KID, plaintext)).toMatch(/^kw1\.p2\./)
    const both = createKeyEncryption({
      peppers,
      signingSecrets: [
        { version: 2, secret: S2 },
        { version: 1, secret: S1 },
      ],
    })
    expect(both.encrypt(KID, plaintext)).toMatch(/^kw1\.s2\./)
    expect(both.describe).toBe('KEYWARD_SIGNING_SECRET v2')
  })

  it('decrypts what an older version or the pepper encrypted, once a signing secret is set', () => {
    const byPepper = createKeyEncryption({ peppers: [{ version: 1, secret: P1 }] }).encrypt(
      KID,
      plaintext,
    )
    const byS1 = createKeyEncryption({ signingSecrets: [{ version: 1, secret: S1 }] }).encrypt(
      KID,
      plaintext,
    )
    const later = createKeyEncryption({
      peppers: [{ version: 1, secret: P1 }],
      signingSecrets: [
        { version: 2, secret: S2 },
        { version: 1, secret: S1 },
      ],
    })
    expect(Buffer.from(later.decrypt(KID, byPepper))).toEqual(plaintext)
    expect(Buffer.from(later.decrypt(KID, byS1))).toEqual(plaintext)
  })

  it('refuses another secret under the same version with signing_secret_mismatch', () => {
    const envelope = createKeyEncryption({ peppers: [{ version: 1, secret: P1 }] }).encrypt(
      KID,
      plaintext,
    )
    const other = createKeyEncryption({ peppers: [{ version: 1, secret: P2 }] })
    const e = caught(() => other.decrypt(KID, envelope))
    expect(e.code).toBe('signing_secret_mismatch')
    expect(e.message).toBe(
      `signing key ${KID} does not decrypt with the pepper v1: this is not the secret it was encrypted with. Give every node the same pepper (docs/tokens.md, "Changing the secret")`,
    )
  })

  it('names a version that is not configured', () => {
    const envelope = createKeyEncryption({ signingSecrets: [{ version: 3, secret: S1 }] }).encrypt(
      KID,
      plaintext,
    )
    const e = caught(() =>
      createKeyEncryption({
        signingSecrets: [{ version: 1, secret: S1 }],
        peppers: [{ version: 1, secret: P1 }],
      }).decrypt(KID, envelope),
    )
    expect(e.code).toBe('signing_secret_mismatch')
    expect(e.message).toBe(
      `signing key ${KID} is encrypted with KEYWARD_SIGNING_SECRET v3, which is not configured here (configured: KEYWARD_SIGNING_SECRET v1, the pepper v1): give every node the secret the key was encrypted with (docs/tokens.md, "Changing the secret")`,
    )
  })

  it('derives different keys from the same text used as pepper and as signing secret', () => {
    const asPepper = createKeyEncryption({ peppers: [{ version: 1, secret: P1 }] })
    const asSecret = createKeyEncryption({ signingSecrets: [{ version: 1, secret: P1 }] })
    // the same ciphertext relabelled as a signing-secret envelope does not decrypt
    const relabelled = asPepper.encrypt(KID, plaintext).replace('kw1.p1.', 'kw1.s1.')
    expect(caught(() => asSecret.decrypt(KID, relabelled)).code).toBe('signing_secret_mismatch')
  })

  it('binds the envelope to its kid and detects tampering', () => {
    const enc = createKeyEncryption({ peppers: [{ version: 1, secret: P1 }] })
    const envelope = enc.encrypt(KID, plaintext)
    expect(caught(() => enc.decrypt('sk_BBBBBBBBBBBBBBBB', envelope)).code).toBe(
      'signing_secret_mismatch',
    )
    const body = envelope.split('.')[3]!
    const flipped = `${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}`
    expect(caught(() => enc.decrypt(KID, envelope.replace(body, flipped))).code).toBe(
      'signing_secret_mismatch',
    )
    expect(caught(() => enc.decrypt(KID, envelope.slice(0, -30))).code).toBe(
      'signing_secret_mismatch',
    )
  })

  it('calls an envelope it cannot parse store_corrupt', () => {
    const enc = createKeyEncryption({ peppers: [{ version: 1, secret: P1 }] })
    for (const bad of [
      '',
      'plaintext',
      'kw2.p1.AAAAAAAAAAAAAAAA.AAAA',
      'kw1.x1.AAAAAAAAAAAAAAAA.AA',
    ]) {
      const e = caught(() => enc.decrypt(KID, bad))
      expect(e.code).toBe('store_corrupt')
      expect(e.message).toContain(KID)
    }
  })

  it.each([
    [{}, /^nothing to encrypt signing keys with/],
    [{ peppers: [] }, /^nothing to encrypt signing keys with/],
    [
      { signingSecrets: [{ version: 1, secret: 'short' }] },
      /KEYWARD_SIGNING_SECRET v1 is 5 characters long/,
    ],
    [
      { signingSecrets: [{ version: 1, secret: 'ab'.repeat(20) }] },
      /only 2 different characters, and a signing secret needs at least 8/,
    ],
    [
      {
        peppers: [
          { version: 1, secret: P1 },
          { version: 1, secret: P2 },
        ],
      },
      /pepper v1 is given twice/,
    ],
    [{ peppers: [{ version: 0, secret: P1 }] }, /pepper version must be a positive integer, got 0/],
  ])('refuses %j with invalid_options', (input, message) => {
    const e = caught(() => createKeyEncryption(input))
    expect(e.code).toBe('invalid_options')
    expect(e.message).toMatch(message)
  })
})
