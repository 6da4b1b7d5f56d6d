import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AUDIENCE,
  fakeClock,
  ISSUER,
  KEY_ID,
  NOW_SEC,
  PEPPERS,
} from '../../test/fixtures/tokens.js'
import { KeywardError } from '../core/errors.js'
import { createMemoryStore } from '../stores/memory/memory-store.js'
import { createTokenSigner, type TokenSigner, type TokenSignerOptions } from './signer.js'

const signers: TokenSigner[] = []
afterEach(() => {
  for (const s of signers.splice(0)) s.close()
})

async function signer(options: Partial<TokenSignerOptions> = {}): Promise<TokenSigner> {
  const s = await createTokenSigner({
    store: createMemoryStore(),
    secrets: PEPPERS,
    issuer: ISSUER,
    clock: fakeClock(),
    ...options,
  })
  signers.push(s)
  return s
}

async function rejected(p: Promise<unknown>, code: string): Promise<KeywardError> {
  const e = await p.then(
    () => {
      throw new Error(`expected KeywardError ${code}`)
    },
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(KeywardError)
  expect((e as KeywardError).code).toBe(code)
  return e as KeywardError
}

describe('issueAccessToken', () => {
  it('signs an RFC 9068 access token with the current key, 5 minutes by default', async () => {
    const s = await signer()
    const issued = await s.issueAccessToken({
      keyId: KEY_ID,
      scopes: ['orders:read', 'orders:write'],
      audience: AUDIENCE,
    })
    const header = decodeProtectedHeader(issued.token)
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: s.jwks().keys[0]!.kid })
    const claims = decodeJwt(issued.token)
    expect(claims).toEqual({
      iss: ISSUER,
      sub: KEY_ID,
      aud: AUDIENCE,
      client_id: KEY_ID,
      scope: 'orders:read orders:write',
      iat: NOW_SEC,
      exp: NOW_SEC + 300,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    })
    expect(issued).toEqual({
      token: issued.token,
      expiresIn: 300,
      expiresAt: (NOW_SEC + 300) * 1000,
      scope: 'orders:read orders:write',
      tokenId: claims.jti,
    })
  })

  it('tells its issuer; a function issuer is asked once, when first needed', async () => {
    expect((await signer()).issuer()).toBe(ISSUER)
    let asked = 0
    const late = await signer({
      issuer: () => {
        asked++
        return 'http://127.0.0.1:8080'
      },
    })
    expect(asked).toBe(0)
    const { token } = await late.issueAccessToken({ keyId: KEY_ID, scopes: [], audience: 'a' })
    expect(decodeJwt(token).iss).toBe('http://127.0.0.1:8080')
    expect(late.issuer()).toBe('http://127.0.0.1:8080')
    expect(asked).toBe(1)
  })

  it('takes a lifetime, several audiences, a client id and an owner', async () => {
    const s = await signer({ accessTokenLifetimeSec: 120 })
    const def = decodeJwt(
      (await s.issueAccessToken({ keyId: KEY_ID, scopes: [], audience: 'a' })).token,
    )
    expect(def.exp! - def.iat!).toBe(120)
    expect(def.scope).toBe('')
    expect(def).not.toHaveProperty('owner')
    const issued = await s.issueAccessToken({
      keyId: KEY_ID,
      scopes: ['*'],
      audience: ['https://a.example', 'urn:b'],
      clientId: 'billing-service',
      ownerId: 'team:billing',
      lifetimeSec: 3600,
    })
    const claims = decodeJwt(issued.token)
    expect(claims).toMatchObject({
      aud: ['https://a.example', 'urn:b'],
      client_id: 'billing-service',
      owner: 'team:billing',
      exp: NOW_SEC + 3600,
    })
    expect(issued.expiresIn).toBe(3600)
  })

  it('gives every token its own jti', async () => {
    const s = await signer()
    const ids = new Set<string>()
    for (let i = 0; i < 50; i++)
      ids.add((await s.issueAccessToken({ keyId: KEY_ID, scopes: [], audience: AUDIENCE })).tokenId)
    expect(ids.size).toBe(50)
  })

  it.each([
    [{ keyId: 'kw_live_secret' }, /"keyId" must be a key id/],
    [{ scopes: ['orders:read write'] }, /"scopes" must be a list of valid scopes/],
    [{ scopes: 'orders:read' }, /"scopes" must be a list of valid scopes/],
    [{ audience: [] }, /"audience" must be a URI or a non-empty list/],
    [{ audience: 'has space' }, /"audience" must be a URI or name without spaces/],
    [
      { lifetimeSec: 3601 },
      /"lifetimeSec" must be a whole number of seconds from 1 to 3600, got 3601/,
    ],
    [{ lifetimeSec: 0 }, /"lifetimeSec" must be a whole number of seconds from 1 to 3600, got 0/],
    [{ ownerId: '' }, /"ownerId" must be a non-empty string or null/],
    [{ clientId: '' }, /"clientId" must be a non-empty string/],
  ])('refuses %j with invalid_argument', async (override, message) => {
    const s = await signer()
    const input = { keyId: KEY_ID, scopes: ['orders:read'], audience: AUDIENCE, ...override }
    const e = await rejected(s.issueAccessToken(input as never), 'invalid_argument')
    expect(e.message).toMatch(message)
  })
})

describe('issueIdentityToken', () => {
  it('signs a 60-second X-Keyward-Token of its own type for the upstream', async () => {
    const s = await signer()
    const token = await s.issueIdentityToken({
      keyId: KEY_ID,
      scopes: ['orders:read'],
      audience: 'http://127.0.0.1:3000',
      ownerId: 'team:a',
    })
    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'EdDSA',
      typ: 'keyward-identity+jwt',
      kid: s.jwks().keys[0]!.kid,
    })
    expect(decodeJwt(token)).toEqual({
      iss: ISSUER,
      sub: KEY_ID,
      aud: 'http://127.0.0.1:3000',
      scope: 'orders:read',
      owner: 'team:a',
      iat: NOW_SEC,
      exp: NOW_SEC + 60,
      jti: expect.any(String),
    })
  })

  it('needs the upstream as a URL', async () => {
    const s = await signer()
    const e = await rejected(
      s.issueIdentityToken({ keyId: KEY_ID, scopes: [], audience: 'upstream' }),
      'invalid_argument',
    )
    expect(e.message).toBe(
      '"audience" must be an absolute URL (e.g. "https://api.example.com"), got "upstream"',
    )
  })
})

describe('createTokenSigner options', () => {
  it.each([
    [
      { issuer: 'keys.example.com' },
      '"issuer" must be an absolute URL (e.g. "https://api.example.com"), got "keys.example.com"',
    ],
    [
      { accessTokenLifetimeSec: 7200 },
      '"accessTokenLifetimeSec" must be a whole number of seconds from 1 to 3600, got 7200',
    ],
    [
      { identityTokenLifetimeSec: 1.5 },
      '"identityTokenLifetimeSec" must be a whole number of seconds from 1 to 3600, got 1.5',
    ],
    [
      { reloadIntervalMs: 120_000 },
      '"reloadIntervalMs" must be a whole number of ms from 100 to 60000, got 120000',
    ],
    [{ store: {} }, '"store" must be a keyward Store'],
    [
      { secrets: {} },
      'nothing to encrypt signing keys with: set KEYWARD_SIGNING_SECRET (or KEYWARD_SIGNING_SECRET_FILE), or give the pepper',
    ],
    [{ issuerUrl: ISSUER }, /^unknown option "issuerUrl" for createTokenSigner/],
  ])('refuses %j with invalid_options', async (override, message) => {
    const e = await rejected(signer(override as never), 'invalid_options')
    if (typeof message === 'string') expect(e.message).toBe(message)
    else expect(e.message).toMatch(message)
  })
})
