import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  AUDIENCE,
  accessClaims,
  type CountingServer,
  countingServer,
  ed25519,
  fakeClock,
  forgeJwt,
  ISSUER,
  testKey,
  tokenRefusal,
} from '../../test/fixtures/tokens.js'
import { createTokenVerifier, type VerifyTokenOptions, verifyAccessToken } from './verify.js'

const k0 = testKey('sk_zero00000000000')
const k1 = testKey('sk_one000000000000')
const tokenBy = (k: typeof k0, kid = k.kid) =>
  forgeJwt({ alg: 'EdDSA', typ: 'at+jwt', kid }, accessClaims(), ed25519(k.privateKey))
const clock = fakeClock()

let server: CountingServer
let options: VerifyTokenOptions
beforeEach(async () => {
  server = await countingServer()
  server.respond({ keys: [k0.jwk] })
  // a fresh path per test: remote key sets are shared per URL within the process
  options = {
    jwksUrl: `${server.url}/${Math.random().toString(36).slice(2)}/jwks.json`,
    issuer: ISSUER,
    audience: AUDIENCE,
    clock,
  }
  // jose times cooldowns and cache age with Date.now(); nothing else is faked
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(1_900_000_000_000)
})
afterEach(async () => {
  vi.useRealTimers()
  await server.close()
})

/** `accepted`, or the code of the TokenError the verification rejected with. */
const code = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'accepted',
    () => tokenRefusal(p).then((e) => e.code),
  )

describe('remote key set', () => {
  it('is fetched once and cached', async () => {
    const verifier = createTokenVerifier(options)
    for (let i = 0; i < 20; i++) await verifier.verify(tokenBy(k0))
    expect(server.requests).toHaveLength(1)
  })

  it('shares one cache between calls of the function form, even with new option objects', async () => {
    for (let i = 0; i < 10; i++) await verifyAccessToken(tokenBy(k0), { ...options })
    expect(server.requests).toHaveLength(1)
  })

  it('does not storm on unknown kids: one fetch per cooldown, however many tokens', async () => {
    const verifier = createTokenVerifier(options)
    await verifier.verify(tokenBy(k0))
    const unknown = Array.from({ length: 50 }, (_, i) =>
      tokenBy(k1, `sk_rand${String(i).padStart(11, '0')}`),
    )
    const codes = await Promise.all(unknown.map((t) => code(verifier.verify(t))))
    expect(new Set(codes)).toEqual(new Set(['token_invalid']))
    expect(server.requests).toHaveLength(1)

    // after the cooldown (30 s) an unknown kid may fetch again, once for a burst
    vi.advanceTimersByTime(30_000)
    await Promise.all(unknown.map((t) => code(verifier.verify(t))))
    expect(server.requests).toHaveLength(2)
  })

  it('learns a rotated key on its first unknown kid after the cooldown', async () => {
    const verifier = createTokenVerifier(options)
    await verifier.verify(tokenBy(k0))
    server.respond({ keys: [k1.jwk, k0.jwk] })
    // a key signing within the cooldown of the last fetch is not known yet: why a rotation
    // publishes the new key (default 60 s) before it signs
    expect(await code(verifier.verify(tokenBy(k1)))).toBe('token_invalid')
    vi.advanceTimersByTime(30_000)
    expect(await code(verifier.verify(tokenBy(k1)))).toBe('accepted')
    expect(server.requests).toHaveLength(2)
  })

  it('answers jwks_unavailable, not token_invalid, while it cannot be fetched, and does not retry on every token', async () => {
    server.respond(null, 500)
    const verifier = createTokenVerifier(options)
    for (let i = 0; i < 20; i++)
      expect(await code(verifier.verify(tokenBy(k0)))).toBe('jwks_unavailable')
    expect(server.requests).toHaveLength(1)
    await expect(verifier.verify(tokenBy(k0))).rejects.toThrow(
      'the key set (JWKS) could not be fetched: the token was not checked; try again later',
    )
    server.respond({ keys: [k0.jwk] })
    vi.advanceTimersByTime(30_000)
    expect(await code(verifier.verify(tokenBy(k0)))).toBe('accepted')
    expect(server.requests).toHaveLength(2)
  })

  it('keeps verifying with the last good key set when a refresh fails (stale-if-error)', async () => {
    const verifier = createTokenVerifier(options)
    await verifier.verify(tokenBy(k0))
    server.respond(null, 503)
    vi.advanceTimersByTime(600_001) // past the cache age: jose fetches again before use
    for (let i = 0; i < 5; i++) expect(await code(verifier.verify(tokenBy(k0)))).toBe('accepted')
    expect(server.requests).toHaveLength(2)
    // a kid the stale set lacks may be a newer key: unavailable, not invalid
    expect(await code(verifier.verify(tokenBy(k1)))).toBe('jwks_unavailable')
  })

  it('fails a hung JWKS endpoint after the timeout with jwks_unavailable', async () => {
    server.hang()
    const verifier = createTokenVerifier({ ...options, jwksTimeoutMs: 200 })
    expect(await code(verifier.verify(tokenBy(k0)))).toBe('jwks_unavailable')
  })

  it('does not follow a redirect', async () => {
    server.respond(null, 302)
    expect(await code(createTokenVerifier(options).verify(tokenBy(k0)))).toBe('jwks_unavailable')
    expect(server.requests).toHaveLength(1)
  })

  it('refuses a key set that is not JSON or not a JWKS as unavailable', async () => {
    server.respond({ not: 'a key set' })
    expect(await code(createTokenVerifier(options).verify(tokenBy(k0)))).toBe('jwks_unavailable')
  })

  it('is not fetched for a token refused before any key is needed', async () => {
    const verifier = createTokenVerifier(options)
    for (const t of [
      'x.y',
      'a'.repeat(9000),
      forgeJwt({ alg: 'HS256', kid: k0.kid }, accessClaims(), () => 'sig'),
    ])
      expect(await code(verifier.verify(t))).not.toBe('accepted')
    expect(server.requests).toEqual([])
  })
})
