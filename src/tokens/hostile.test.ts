// Hostile tokens (issue 13, "must include" 3): each is refused with a TokenError and its code,
// never a crash, and nothing is fetched because a token asks for it.
import { createHmac, createPublicKey } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AUDIENCE,
  accessClaims,
  type CountingServer,
  countingServer,
  ed25519,
  fakeClock,
  forgeJwt,
  ISSUER,
  KEY_ID,
  NOW_SEC,
  testKey,
  tokenRefusal,
} from '../../test/fixtures/tokens.js'
import { generateKey } from '../core/key-format.js'
import type { TokenErrorCode } from './errors.js'
import { createTokenVerifier, type TokenVerifier } from './verify.js'

const key = testKey()
const attacker = testKey(key.kid)
const sign = ed25519(key.privateKey)
const header = { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid }
const good = forgeJwt(header, accessClaims(), sign)
const b64 = (s: string) => Buffer.from(s).toString('base64url')
const [goodHeader, goodPayload, goodSignature] = good.split('.') as [string, string, string]

/** HS256 keyed with the public key itself: the classic algorithm confusion. */
const hs256 = (secret: Buffer | string) => (input: string) =>
  createHmac('sha256', secret).update(input).digest('base64url')
const publicPem = createPublicKey({ key: key.jwk, format: 'jwk' }).export({
  format: 'pem',
  type: 'spki',
}) as string

let sink: CountingServer
let jwksServer: CountingServer
let local: TokenVerifier
let remote: TokenVerifier
const clock = fakeClock()

beforeAll(async () => {
  sink = await countingServer()
  jwksServer = await countingServer()
  jwksServer.respond({ keys: [key.jwk] })
  const base = { issuer: ISSUER, audience: AUDIENCE, clock }
  local = createTokenVerifier({ ...base, jwks: { keys: [key.jwk] } })
  remote = createTokenVerifier({ ...base, jwksUrl: `${jwksServer.url}/.well-known/jwks.json` })
})
afterAll(async () => {
  await sink.close()
  await jwksServer.close()
})

type Case = [name: string, token: () => unknown, code: TokenErrorCode, message?: string | RegExp]

const NOT_JWT = 'the token is not a JWT: expected three base64url parts separated by dots'
const NOT_WELL_FORMED = 'the token is not a well-formed signed JWT'
const BAD_SIGNATURE = 'the token signature does not verify: it was altered or signed by another key'
const NO_KEY =
  'no published key matches the token ("kid"): it was signed by an unknown key or one retired long ago'
const BAD_KID = 'the token names no usable signing key ("kid"): it was not issued by keyward'
const ALG = 'the token is signed with an algorithm that is not allowed (only EdDSA is)'

const CASES: Case[] = [
  [
    'alg none with the trailing dot',
    () => forgeJwt({ ...header, alg: 'none' }, accessClaims(), () => ''),
    'token_invalid',
    NOT_JWT,
  ],
  [
    'alg none without the trailing dot',
    () => `${b64(JSON.stringify({ ...header, alg: 'none' }))}.${goodPayload}`,
    'token_invalid',
    NOT_JWT,
  ],
  [
    'alg none with a signature',
    () => forgeJwt({ ...header, alg: 'none' }, accessClaims(), sign),
    'token_invalid',
    ALG,
  ],
  [
    'HS256 keyed with the public key bytes',
    () =>
      forgeJwt(
        { ...header, alg: 'HS256' },
        accessClaims(),
        hs256(Buffer.from(key.jwk.x, 'base64url')),
      ),
    'token_invalid',
    ALG,
  ],
  [
    'HS256 keyed with the public key PEM',
    () => forgeJwt({ ...header, alg: 'HS256' }, accessClaims(), hs256(publicPem)),
    'token_invalid',
    ALG,
  ],
  [
    'HS256 keyed with the JWKS text',
    () => forgeJwt({ ...header, alg: 'HS256' }, accessClaims(), hs256(JSON.stringify(key.jwk))),
    'token_invalid',
    ALG,
  ],
  [
    'an embedded jwk header with the attacker key',
    () => forgeJwt({ ...header, jwk: attacker.jwk }, accessClaims(), ed25519(attacker.privateKey)),
    'token_invalid',
    BAD_SIGNATURE,
  ],
  [
    'a jku header to the attacker',
    () =>
      forgeJwt(
        { ...header, kid: 'sk_attacker0000000', jku: `${sink.url}/jku` },
        accessClaims(),
        ed25519(attacker.privateKey),
      ),
    'token_invalid',
    NO_KEY,
  ],
  [
    'an x5u header to the attacker',
    () =>
      forgeJwt({ ...header, x5u: `${sink.url}/x5u` }, accessClaims(), ed25519(attacker.privateKey)),
    'token_invalid',
    BAD_SIGNATURE,
  ],
  [
    'an x5c header',
    () =>
      forgeJwt(
        { ...header, x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] },
        accessClaims(),
        ed25519(attacker.privateKey),
      ),
    'token_invalid',
    BAD_SIGNATURE,
  ],
  [
    'an unknown kid',
    () => forgeJwt({ ...header, kid: 'sk_unknown00000000' }, accessClaims(), sign),
    'token_invalid',
    NO_KEY,
  ],
  [
    'no kid',
    () => forgeJwt({ alg: 'EdDSA', typ: 'at+jwt' }, accessClaims(), sign),
    'token_invalid',
    BAD_KID,
  ],
  [
    'a kid that is a number',
    () => forgeJwt({ ...header, kid: 7 }, accessClaims(), sign),
    'token_invalid',
    BAD_KID,
  ],
  [
    'a path-like kid',
    () => forgeJwt({ ...header, kid: '../../../../etc/passwd' }, accessClaims(), sign),
    'token_invalid',
    BAD_KID,
  ],
  [
    'a SQL-like kid',
    () => forgeJwt({ ...header, kid: "x' OR '1'='1'; DROP TABLE keys; --" }, accessClaims(), sign),
    'token_invalid',
    BAD_KID,
  ],
  [
    'a 65-character kid',
    () => forgeJwt({ ...header, kid: 'k'.repeat(65) }, accessClaims(), sign),
    'token_invalid',
    BAD_KID,
  ],
  [
    'a 10 KB kid',
    () => forgeJwt({ ...header, kid: 'k'.repeat(10_240) }, accessClaims(), sign),
    'token_too_large',
  ],
  [
    'expired beyond the leeway',
    () => forgeJwt(header, accessClaims({ exp: NOW_SEC - 6 }), sign),
    'token_expired',
  ],
  [
    'not valid yet beyond the leeway (nbf)',
    () => forgeJwt(header, accessClaims({ nbf: NOW_SEC + 6 }), sign),
    'token_invalid',
    /"nbf" is in the future/,
  ],
  [
    'issued in the future beyond the leeway (iat)',
    () => forgeJwt(header, accessClaims({ iat: NOW_SEC + 6 }), sign),
    'token_invalid',
    /"iat" beyond the clock tolerance/,
  ],
  [
    'an exp that is a string',
    () => forgeJwt(header, accessClaims({ exp: String(NOW_SEC + 60) }), sign),
    'token_invalid',
    'the token\'s "exp" claim is not valid',
  ],
  [
    'no aud',
    () => forgeJwt(header, accessClaims({ aud: undefined }), sign),
    'token_invalid',
    /^the token is not meant for this service/,
  ],
  [
    'a wrong aud',
    () => forgeJwt(header, accessClaims({ aud: 'https://other.example.com' }), sign),
    'token_invalid',
    /^the token is not meant for this service/,
  ],
  [
    'no iss',
    () => forgeJwt(header, accessClaims({ iss: undefined }), sign),
    'token_invalid',
    /^the token was issued by another issuer/,
  ],
  [
    'a wrong iss',
    () => forgeJwt(header, accessClaims({ iss: 'https://evil.example.com' }), sign),
    'token_invalid',
    /^the token was issued by another issuer/,
  ],
  [
    'no typ',
    () => forgeJwt({ alg: 'EdDSA', kid: key.kid }, accessClaims(), sign),
    'token_invalid',
    /^the token has the wrong type/,
  ],
  [
    'typ JWT',
    () => forgeJwt({ ...header, typ: 'JWT' }, accessClaims(), sign),
    'token_invalid',
    /^the token has the wrong type/,
  ],
  [
    'an X-Keyward-Token where an access token is expected',
    () =>
      forgeJwt(
        { ...header, typ: 'keyward-identity+jwt' },
        accessClaims({ client_id: undefined }),
        sign,
      ),
    'token_invalid',
    /^the token has the wrong type/,
  ],
  [
    'no client_id',
    () => forgeJwt(header, accessClaims({ client_id: undefined }), sign),
    'token_invalid',
    'the token lacks the "client_id" claim: it was not issued by keyward',
  ],
  [
    'no jti',
    () => forgeJwt(header, accessClaims({ jti: undefined }), sign),
    'token_invalid',
    'the token lacks the "jti" claim: it was not issued by keyward',
  ],
  [
    'a sub that is not a string',
    () => forgeJwt(header, accessClaims({ sub: 42 }), sign),
    'token_invalid',
    'the token\'s "sub" must be a non-empty string',
  ],
  [
    'a scope that is not a string',
    () => forgeJwt(header, accessClaims({ scope: ['orders:read'] }), sign),
    'token_invalid',
    'the token\'s "scope" must be a string',
  ],
  ['two segments', () => `${goodHeader}.${goodPayload}`, 'token_invalid', NOT_JWT],
  ['four segments', () => `${good}.${goodSignature}`, 'token_invalid', NOT_JWT],
  ['an empty middle segment', () => `${goodHeader}..${goodSignature}`, 'token_invalid', NOT_JWT],
  [
    'base64 padding',
    () => `${goodHeader}=.${goodPayload}.${goodSignature}`,
    'token_invalid',
    NOT_JWT,
  ],
  [
    'standard base64 characters',
    () => `${goodHeader}.${goodPayload.slice(0, -2)}+/.${goodSignature}`,
    'token_invalid',
    NOT_JWT,
  ],
  [
    'a segment of impossible length',
    () => `${goodHeader}.${goodPayload}A.${goodSignature}`,
    'token_invalid',
  ],
  [
    'a changed payload',
    () => `${goodHeader}.${b64(JSON.stringify(accessClaims({ scope: '*' })))}.${goodSignature}`,
    'token_invalid',
    BAD_SIGNATURE,
  ],
  [
    'a header that is not JSON',
    () => forgeJwt('{"alg":"EdDSA",', accessClaims(), sign),
    'token_invalid',
    NOT_WELL_FORMED,
  ],
  [
    'a header that is an array',
    () => forgeJwt('["EdDSA"]', accessClaims(), sign),
    'token_invalid',
    NOT_WELL_FORMED,
  ],
  [
    'a payload that is not an object',
    () => forgeJwt(header, '"hello"', sign),
    'token_invalid',
    NOT_WELL_FORMED,
  ],
  [
    'an unknown crit header',
    () => forgeJwt({ ...header, crit: ['exp2'], exp2: 1 }, accessClaims(), sign),
    'token_invalid',
    NOT_WELL_FORMED,
  ],
  [
    'an unencoded payload (b64: false)',
    () => forgeJwt({ ...header, b64: false, crit: ['b64'] }, accessClaims(), sign),
    'token_invalid',
    NOT_WELL_FORMED,
  ],
  [
    'a duplicate alg in the header',
    () =>
      forgeJwt(
        `{"alg":"none","typ":"at+jwt","kid":"${key.kid}","alg":"EdDSA"}`,
        accessClaims(),
        sign,
      ),
    'token_invalid',
    'the token names a JSON member twice: refused, since JSON parsers disagree on which one counts',
  ],
  [
    'a duplicate sub in the payload, validly signed',
    () =>
      forgeJwt(
        header,
        JSON.stringify(accessClaims()).replace('{', '{"sub":"key_AAAAAAAAAAAAAAAA",'),
        sign,
      ),
    'token_invalid',
    'the token names a JSON member twice: refused, since JSON parsers disagree on which one counts',
  ],
  [
    'a duplicate written with an escape',
    () =>
      forgeJwt(header, JSON.stringify(accessClaims()).replace('{', '{"\\u0073cope":"*",'), sign),
    'token_invalid',
    'the token names a JSON member twice: refused, since JSON parsers disagree on which one counts',
  ],
  [
    'a 1 MB token',
    () => `${goodHeader}.${'A'.repeat(1024 * 1024)}.${goodSignature}`,
    'token_too_large',
    "the token is longer than 8192 bytes: keyward's tokens are far shorter",
  ],
  [
    'an API key',
    () => generateKey(),
    'token_invalid',
    'this is an API key, not a JWT: send it in X-API-Key, or trade it for a token at /oauth/token',
  ],
  ['an empty string', () => '', 'token_invalid', NOT_JWT],
  ['a number', () => 42, 'token_invalid', 'the token must be a string'],
  ['undefined', () => undefined, 'token_invalid', 'the token must be a string'],
  [
    'a forged token: another key with the same kid',
    () => forgeJwt(header, accessClaims(), ed25519(attacker.privateKey)),
    'token_invalid',
    BAD_SIGNATURE,
  ],
  [
    'the good signature on another header',
    () => `${b64(JSON.stringify({ ...header, foo: 1 }))}.${goodPayload}.${goodSignature}`,
    'token_invalid',
    BAD_SIGNATURE,
  ],
]

describe.each([
  ['a local key set', () => local],
  ['a remote key set', () => remote],
])('hostile tokens against %s', (_name, verifier) => {
  it('accepts the well-formed token they are made from', async () => {
    await expect(verifier().verify(good)).resolves.toMatchObject({ keyId: KEY_ID })
  })

  it.each(CASES)('refuses %s', async (_case, token, code, message) => {
    const error = await tokenRefusal(verifier().verify(token() as string))
    expect(error.code).toBe(code)
    if (typeof message === 'string') expect(error.message).toBe(message)
    else if (message !== undefined) expect(error.message).toMatch(message)
    // the message never carries the token
    expect(error.message).not.toContain(goodPayload.slice(0, 20))
  })
})

describe('outbound requests', () => {
  it('none went to a URL a token named; the remote key set was fetched once', () => {
    expect(sink.requests).toEqual([])
    // the first remote verification fetched the set; unknown kids since then fell in the cooldown
    expect(jwksServer.requests).toEqual(['/.well-known/jwks.json'])
  })
})
