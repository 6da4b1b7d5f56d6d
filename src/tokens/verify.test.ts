import { describe, expect, it } from 'vitest'
import {
  AUDIENCE,
  accessClaims,
  ed25519,
  fakeClock,
  forgeJwt,
  ISSUER,
  KEY_ID,
  NOW_SEC,
  testKey,
  tokenRefusal,
} from '../../test/fixtures/tokens.js'
import { KeywardError } from '../core/errors.js'
import {
  createTokenVerifier,
  type VerifyTokenOptions,
  verifierFor,
  verifyAccessToken,
} from './verify.js'

const key = testKey()
const jwks = { keys: [key.jwk] }
const header = { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid }
const sign = ed25519(key.privateKey)
const clock = fakeClock()
const options: VerifyTokenOptions = { jwks, issuer: ISSUER, audience: AUDIENCE, clock }

describe('verifyAccessToken', () => {
  it('returns what the token says', async () => {
    const token = forgeJwt(header, accessClaims({ owner: 'team:a', scope: 'a:b  c:d' }), sign)
    await expect(verifyAccessToken(token, options)).resolves.toEqual({
      keyId: KEY_ID,
      scopes: ['a:b', 'c:d'],
      ownerId: 'team:a',
      clientId: KEY_ID,
      issuer: ISSUER,
      audience: [AUDIENCE],
      tokenId: 'a1b2c3',
      issuedAt: NOW_SEC * 1000,
      expiresAt: (NOW_SEC + 300) * 1000,
      claims: accessClaims({ owner: 'team:a', scope: 'a:b  c:d' }),
    })
  })

  it('accepts a token without scope as one with no scopes, and any of several audiences', async () => {
    const token = forgeJwt(
      header,
      accessClaims({ scope: undefined, aud: ['urn:other', AUDIENCE] }),
      sign,
    )
    const v = await verifyAccessToken(token, { ...options, audience: ['urn:x', AUDIENCE] })
    expect(v.scopes).toEqual([])
    expect(v.audience).toEqual(['urn:other', AUDIENCE])
  })

  it('allows the clock tolerance on expiry, and no more (default 5 s)', async () => {
    const expired = (by: number) => forgeJwt(header, accessClaims({ exp: NOW_SEC - by }), sign)
    await expect(verifyAccessToken(expired(4), options)).resolves.toMatchObject({ keyId: KEY_ID })
    const e = await tokenRefusal(verifyAccessToken(expired(5), options))
    expect(e.code).toBe('token_expired')
    expect(e.message).toBe(
      'the token has expired: get a new one (tokens live minutes; a client refreshes them before they expire)',
    )
    await expect(
      verifyAccessToken(expired(59), { ...options, clockToleranceSec: 60 }),
    ).resolves.toMatchObject({ keyId: KEY_ID })
  })

  it('refuses a token older than an hour even when its exp says otherwise', async () => {
    const token = forgeJwt(header, accessClaims({ iat: NOW_SEC - 3606, exp: NOW_SEC + 600 }), sign)
    expect((await tokenRefusal(verifyAccessToken(token, options))).code).toBe('token_expired')
  })

  it('follows a key set given as a function when it changes', async () => {
    const next = testKey('sk_next00000000000')
    let current = { keys: [key.jwk] }
    const verifier = createTokenVerifier({ ...options, jwks: () => current })
    const byNext = forgeJwt({ ...header, kid: next.kid }, accessClaims(), ed25519(next.privateKey))
    expect((await tokenRefusal(verifier.verify(byNext))).code).toBe('token_invalid')
    current = { keys: [key.jwk, next.jwk] }
    await expect(verifier.verify(byNext)).resolves.toMatchObject({ keyId: KEY_ID })
  })

  it('builds one verifier per options object', () => {
    expect(verifierFor(options)).toBe(verifierFor(options))
    expect(verifierFor({ ...options })).not.toBe(verifierFor(options))
  })
})

describe('verifier options', () => {
  const base = { jwks, issuer: ISSUER, audience: AUDIENCE }
  it.each([
    [
      { ...base, jwksUrl: 'https://x.test/jwks' },
      'give exactly one of "jwks" (a key set) and "jwksUrl" (keyward\'s /.well-known/jwks.json)',
    ],
    [
      { issuer: ISSUER, audience: AUDIENCE },
      'give exactly one of "jwks" (a key set) and "jwksUrl" (keyward\'s /.well-known/jwks.json)',
    ],
    [{ ...base, clockToleranceSec: 61 }, '"clockToleranceSec" must be from 0 to 60, got 61'],
    [{ ...base, clockToleranceSec: -1 }, '"clockToleranceSec" must be from 0 to 60, got -1'],
    [
      { ...base, algorithms: ['HS256'] },
      '"algorithms" may only name asymmetric signature algorithms (EdDSA, ES256, RS256, …), got "HS256"',
    ],
    [
      { ...base, algorithms: ['EdDSA', 'none'] },
      '"algorithms" may only name asymmetric signature algorithms (EdDSA, ES256, RS256, …), got "none"',
    ],
    [
      { ...base, algorithms: [] },
      '"algorithms" must be a non-empty string or list of them, got []',
    ],
    [{ ...base, audience: '' }, '"audience" must be a non-empty string or list of them, got ""'],
    [{ ...base, issuer: [ISSUER, 'https://b'] }, '"issuer" must be one string'],
    [{ ...base, maxTokenBytes: 10 }, '"maxTokenBytes" must be a whole number >= 64, got 10'],
    [
      { ...base, jwks: undefined, jwksUrl: 'file:///etc/passwd' },
      '"jwksUrl" must be an http(s) URL, got "file:///etc/passwd"',
    ],
    [
      { ...base, jwks: undefined, jwksUrl: 'not a url' },
      '"jwksUrl" must be an absolute http(s) URL, got "not a url"',
    ],
    [{ ...base, jwks: { keys: 'x' } }, '"jwks" is not a valid JWKS ({ keys: [...] })'],
    [
      { ...base, jwks: undefined, jwksUrl: 'https://x.test/', jwksCooldownMs: -1 },
      '"jwksCooldownMs" must be a whole number of ms >= 0, got -1',
    ],
    [{ ...base, audiences: AUDIENCE }, /^unknown option "audiences" for token verification/],
  ])('refuses %j with invalid_options, at once', (bad, message) => {
    let error: unknown
    try {
      createTokenVerifier(bad as VerifyTokenOptions)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(KeywardError)
    expect((error as KeywardError).code).toBe('invalid_options')
    if (typeof message === 'string') expect((error as KeywardError).message).toBe(message)
    else expect((error as KeywardError).message).toMatch(message)
  })

  it('rejects (not throws) from the function form', async () => {
    await expect(
      verifyAccessToken('x', { ...options, clockToleranceSec: 120 }),
    ).rejects.toBeInstanceOf(KeywardError)
  })
})
