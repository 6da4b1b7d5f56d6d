import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AUDIENCE,
  accessTokensBy,
  type CountingServer,
  countingServer,
  fakeClock,
  ISSUER,
  KEY_ID,
  NOW_SEC,
  PEPPERS,
  testKey,
} from '../../test/fixtures/tokens.js'
import { generateKey } from '../core/key-format.js'
import { createKeyward } from '../core/keyward.js'
import type { VerifyResult } from '../core/verify-types.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { type AcceptTokensOptions, acceptTokens } from './accept.js'
import { TokenError } from './errors.js'
import { createRevocationList } from './revocations.js'

const key = testKey()
const token = accessTokensBy(key)

/** A local key set that counts how often a signature was checked against it. */
function countedJwks() {
  const counter = { checks: 0 }
  const set = { keys: [key.jwk] }
  return {
    counter,
    jwks: () => {
      counter.checks++
      return set
    },
  }
}

function verifier(extra: Partial<AcceptTokensOptions> = {}) {
  const clock = fakeClock()
  const { counter, jwks } = countedJwks()
  const v = acceptTokens({ jwks, issuer: ISSUER, audience: AUDIENCE, clock, ...extra })
  return { v, clock, counter }
}

const ok = (r: VerifyResult | undefined) => {
  if (r === undefined || !r.ok) throw new Error(`expected a success, got ${JSON.stringify(r)}`)
  return r.key
}

describe('acceptTokens', () => {
  it('fills the verified key from the token, and nothing a token does not carry', async () => {
    const { v } = verifier()
    const key = ok(await v.verify(token({ owner: 'team:orders', scope: 'orders:read a:b' })))
    expect(key).toEqual({
      id: KEY_ID,
      name: '',
      ownerId: 'team:orders',
      prefix: '',
      hint: '',
      scopes: ['orders:read', 'a:b'],
      roles: [],
      metadata: {},
      expiresAt: (NOW_SEC + 300) * 1000,
      rateLimits: [],
      quota: null,
      token: {
        id: 'a1b2c3',
        clientId: KEY_ID,
        audience: [AUDIENCE],
        issuedAt: NOW_SEC * 1000,
        expiresAt: (NOW_SEC + 300) * 1000,
      },
    })
    expect(Object.isFrozen(key) && Object.isFrozen(key.scopes) && Object.isFrozen(key.token)).toBe(
      true,
    )
  })

  it('checks required scopes as for keys: wildcards count, missing ones are named', async () => {
    const { v } = verifier()
    const t = token({ scope: 'orders:* billing:read' })
    expect((await v.verify(t, { scopes: ['orders:write', 'billing:read'] })).ok).toBe(true)
    expect(await v.verify(t, { scopes: ['billing:write', 'orders:read', 'users:read'] })).toEqual({
      ok: false,
      code: 'insufficient_scope',
      keyId: KEY_ID,
      missingScopes: ['billing:write', 'users:read'],
    })
    // the cached token is checked against each request's scopes too
    expect(v.verifyCached?.(t, { scopes: ['users:read'] })).toMatchObject({
      code: 'insufficient_scope',
      missingScopes: ['users:read'],
    })
  })

  it('checks a signature once: later requests with the token are answered from the cache, without a promise', async () => {
    const { v, counter } = verifier()
    const t = token()
    expect(v.verifyCached?.(t)).toBeUndefined()
    ok(await v.verify(t))
    expect(counter.checks).toBe(1)
    for (let i = 0; i < 5; i++) ok(v.verifyCached?.(t))
    ok(await v.verify(t))
    expect(counter.checks).toBe(1)
    // another token is another entry
    ok(await v.verify(token({ jti: 'other' })))
    expect(counter.checks).toBe(2)
  })

  it('refuses a cached token once it expired beyond the tolerance, and forgets it', async () => {
    const { v, clock, counter } = verifier()
    const t = token({ exp: NOW_SEC + 60 })
    ok(await v.verify(t))
    clock.set((NOW_SEC + 64) * 1000)
    ok(v.verifyCached?.(t))
    clock.set((NOW_SEC + 65) * 1000)
    expect(v.verifyCached?.(t)).toEqual({ ok: false, code: 'token_expired', keyId: KEY_ID })
    // gone from the cache: checked again (and refused by jose, with its reason)
    const again = await v.verify(t)
    expect(counter.checks).toBe(2)
    expect(again).toMatchObject({ ok: false, code: 'token_expired' })
    expect((again as { cause: unknown }).cause).toBeInstanceOf(TokenError)
  })

  it('keeps at most cacheMaxEntries tokens, dropping the oldest; 0 keeps none', async () => {
    const { v, counter } = verifier({ cacheMaxEntries: 2 })
    const [a, b, c] = ['a', 'b', 'c'].map((jti) => token({ jti }))
    for (const t of [a, b, c]) ok(await v.verify(t!))
    expect(v.verifyCached?.(a!)).toBeUndefined()
    ok(v.verifyCached?.(b!))
    ok(v.verifyCached?.(c!))
    expect(counter.checks).toBe(3)

    const none = verifier({ cacheMaxEntries: 0 })
    ok(await none.v.verify(a!))
    expect(none.v.verifyCached?.(a!)).toBeUndefined()
    ok(await none.v.verify(a!))
    expect(none.counter.checks).toBe(2)
  })

  it('refuses a forged or oversized token with the code and the reason for logs', async () => {
    const { v } = verifier()
    const forged = accessTokensBy(testKey(key.kid))()
    const refused = await v.verify(forged)
    expect(refused).toMatchObject({ ok: false, code: 'token_invalid' })
    expect((refused as { cause: TokenError }).cause.message).toBe(
      'the token signature does not verify: it was altered or signed by another key',
    )
    // a forged token is never cached
    expect(v.verifyCached?.(forged)).toBeUndefined()
    const huge = `eyJ${'A'.repeat(9000)}`
    expect(v.verifyCached?.(huge)).toMatchObject({ ok: false, code: 'token_too_large' })
    expect(await v.verify(huge)).toMatchObject({ ok: false, code: 'token_too_large' })
  })

  it('tokens only: no credential is key_missing, an API key is token_invalid saying so', async () => {
    const { v } = verifier()
    expect(v.verifyCached?.(undefined)).toEqual({ ok: false, code: 'key_missing' })
    expect(await v.verify(null)).toEqual({ ok: false, code: 'key_missing' })
    const refused = await v.verify(generateKey())
    expect(refused).toMatchObject({ ok: false, code: 'token_invalid' })
    expect((refused as { cause: Error }).cause.message).toBe(
      'this is an API key, not a JWT: send it in X-API-Key, or trade it for a token at /oauth/token',
    )
  })

  it('with a keyward, keys go to it and JWTs are checked as tokens', async () => {
    const keyward = await createKeyward({ store: createMemoryStore(), ...PEPPERS })
    const created = await keyward.createKey({ name: 'svc', scopes: ['orders:read'] })
    const { v } = verifier({ keyward })
    const byKey = ok(await v.verify(created.key, { scopes: ['orders:read'] }))
    expect(byKey).toMatchObject({ id: created.record.id, name: 'svc' })
    expect(byKey.token).toBeUndefined()
    // a cached key is answered synchronously by the keyward's cache
    expect(v.verifyCached?.(created.key)).toMatchObject({ ok: true })
    expect(await v.verify(generateKey())).toEqual({ ok: false, code: 'key_invalid' })
    expect(await v.verify(undefined)).toEqual({ ok: false, code: 'key_missing' })
    expect(ok(await v.verify(token())).token?.id).toBe('a1b2c3')
    await keyward.close()
  })

  it('expands implied scopes on tokens', async () => {
    const { v } = verifier({ impliedScopes: { admin: ['keys:read', 'keys:write'] } })
    const key = ok(await v.verify(token({ scope: 'admin' }), { scopes: ['keys:write'] }))
    expect(key.scopes).toEqual(['admin', 'keys:read', 'keys:write'])
  })

  it('asks a function issuer and audience once, at the first token', async () => {
    let asked = 0
    const { v } = verifier({
      issuer: () => {
        asked++
        return ISSUER
      },
      audience: () => [AUDIENCE],
    })
    expect(asked).toBe(0)
    ok(await v.verify(token()))
    ok(await v.verify(token({ jti: 'x' })))
    expect(asked).toBe(1)
  })

  it('refuses bad options, naming them', () => {
    const base = { jwks: { keys: [key.jwk] }, issuer: ISSUER, audience: AUDIENCE }
    const cases: [unknown, string][] = [
      [{ ...base, typ: 'JWT' }, 'unknown option "typ" for acceptTokens'],
      [{ ...base, keyward: {} }, '"keyward" must be a Keyward'],
      [{ ...base, revocations: {} }, '"revocations" must come from createRevocationList()'],
      [{ ...base, cacheMaxEntries: -1 }, '"cacheMaxEntries" must be a whole number >= 0, got -1'],
      [{ ...base, impliedScopes: { admin: ['Bad Scope'] } }, '"impliedScopes": '],
      [{ ...base, issuer: '' }, '"issuer" must be a non-empty string'],
      [{ issuer: ISSUER, audience: AUDIENCE }, 'give exactly one of "jwks"'],
    ]
    for (const [options, message] of cases)
      expect(() => acceptTokens(options as AcceptTokensOptions)).toThrow(
        expect.objectContaining({
          name: 'KeywardError',
          code: 'invalid_options',
          message: expect.stringContaining(message),
        }),
      )
  })
})

describe('acceptTokens with a remote key set that cannot be fetched', () => {
  let down: CountingServer
  beforeAll(async () => {
    down = await countingServer()
    down.respond(null, 500)
  })
  afterAll(() => down.close())

  it('answers jwks_unavailable (503: the token was not checked), never token_invalid', async () => {
    const v = acceptTokens({
      jwksUrl: `${down.url}/jwks.json`,
      issuer: ISSUER,
      audience: AUDIENCE,
      clock: fakeClock(),
    })
    expect(await v.verify(token())).toMatchObject({ ok: false, code: 'jwks_unavailable' })
  })
})

describe('acceptTokens with a revocation list', () => {
  async function setup(withList: boolean) {
    const clock = fakeClock()
    const keyward = await createKeyward({ store: createMemoryStore(), ...PEPPERS, clock })
    const { record } = await keyward.createKey({ name: 'svc', scopes: ['orders:read'] })
    const revocations = withList ? createRevocationList({ changes: keyward, clock }) : undefined
    const v = acceptTokens({
      jwks: { keys: [key.jwk] },
      issuer: ISSUER,
      audience: AUDIENCE,
      clock,
      ...(revocations ? { revocations } : {}),
    })
    const tokenOf = (iat: number) =>
      token({ sub: record.id, client_id: record.id, iat, exp: iat + 300 })
    return { clock, keyward, id: record.id, v, tokenOf, revocations }
  }

  it('refuses live tokens of a key revoked after they were issued, cached or not', async () => {
    const { clock, keyward, id, v, tokenOf } = await setup(true)
    const cached = tokenOf(NOW_SEC)
    const fresh = tokenOf(NOW_SEC + 1)
    ok(await v.verify(cached))
    clock.advance(2000)
    await keyward.revokeKey(id)
    expect(v.verifyCached?.(cached)).toEqual({ ok: false, code: 'token_revoked', keyId: id })
    expect(await v.verify(fresh)).toEqual({ ok: false, code: 'token_revoked', keyId: id })
    // another key's tokens are untouched
    ok(await v.verify(token({ jti: 'other' })))
    await keyward.close()
  })

  it('disabling refuses them too; tokens issued after re-enabling (beyond the clock skew) count', async () => {
    const { clock, keyward, id, v, tokenOf } = await setup(true)
    await keyward.updateKey(id, { enabled: false })
    expect(await v.verify(tokenOf(NOW_SEC))).toMatchObject({ code: 'token_revoked' })
    // issued within the skew allowance of the revocation: may predate it on the issuer's clock
    expect(await v.verify(tokenOf(NOW_SEC + 5))).toMatchObject({ code: 'token_revoked' })
    await keyward.updateKey(id, { enabled: true })
    clock.advance(10_000)
    ok(await v.verify(tokenOf(NOW_SEC + 6)))
    await keyward.close()
  })

  it('rotating or updating a key does not touch its tokens', async () => {
    const { keyward, id, v, tokenOf } = await setup(true)
    await keyward.rotateKey(id)
    await keyward.updateKey(id, { name: 'renamed' })
    ok(await v.verify(tokenOf(NOW_SEC)))
    await keyward.close()
  })

  it('without a list, a revoked key`s tokens count until they expire', async () => {
    const { clock, keyward, id, v, tokenOf } = await setup(false)
    const t = tokenOf(NOW_SEC)
    await keyward.revokeKey(id)
    ok(await v.verify(t))
    clock.set((NOW_SEC + 306) * 1000)
    expect(v.verifyCached?.(t)).toMatchObject({ code: 'token_expired' })
    await keyward.close()
  })
})
