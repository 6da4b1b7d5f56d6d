// The X-Keyward-Token a proxied request carries, as an upstream checks it with keyward/upstream
// against the service's published keys: the real one passes; a forged one (claims changed,
// signed by another key under the same kid), one for another upstream, an expired one and one
// signed by a retired key after its overlap are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rotateSigningKey } from '../../src/tokens/signing-keys.js'
import { verifyKeywardToken } from '../../src/tokens/upstream.js'
import { ed25519, fakeClock, forgeJwt, testKey, tokenRefusal } from '../fixtures/tokens.js'
import { startUpstream, type Upstream } from '../fixtures/upstream.js'
import { ISSUER, type ProxiedService, startProxy } from '../helpers/proxy.js'
import { TEST_PEPPERS } from '../helpers/service.js'

/** Sends one request through the proxy and returns the token the upstream received. */
async function tokenThrough(svc: ProxiedService, key: string, path = '/x'): Promise<string> {
  const res = await svc.call('GET', path, { key })
  expect(res.status).toBe(200)
  return svc.upstream.last().headers['x-keyward-token'] as string
}

function parts(token: string): [Record<string, unknown>, Record<string, unknown>, string] {
  const [h, p, s] = token.split('.') as [string, string, string]
  return [
    JSON.parse(Buffer.from(h, 'base64url').toString()),
    JSON.parse(Buffer.from(p, 'base64url').toString()),
    s,
  ]
}

describe('an upstream checking X-Keyward-Token against the JWKS URL', () => {
  let svc: ProxiedService
  let billing: Upstream
  let key: string
  let options: { jwksUrl: string; issuer: string; audience: string }
  beforeAll(async () => {
    billing = await startUpstream()
    svc = await startProxy({ upstreams: [{ prefix: '/billing', url: billing.url }] })
    ;({ key } = await svc.createKey({ name: 'caller', scopes: ['orders:read'] }))
    options = {
      jwksUrl: `${svc.url}/.well-known/jwks.json`,
      issuer: ISSUER,
      audience: svc.upstream.url,
    }
  })
  afterAll(async () => {
    await svc.close()
    await billing.close()
  })

  it('accepts the token of a proxied request', async () => {
    const token = await tokenThrough(svc, key)
    const identity = await verifyKeywardToken(token, options)
    expect(identity.scopes).toEqual(['orders:read'])
  })

  it('refuses a token whose claims were changed, or that another key signed under the same kid', async () => {
    const token = await tokenThrough(svc, key)
    const [header, payload, signature] = parts(token)
    const widened = forgeJwt(header, { ...payload, scope: 'admin' }, () => signature)
    expect((await tokenRefusal(verifyKeywardToken(widened, options))).code).toBe('token_invalid')
    const attacker = testKey(header.kid as string)
    const resigned = forgeJwt(header, payload, ed25519(attacker.privateKey))
    expect((await tokenRefusal(verifyKeywardToken(resigned, options))).code).toBe('token_invalid')
  })

  it('refuses the token of a request forwarded to another upstream', async () => {
    const res = await svc.call('GET', '/billing/invoices', { key })
    expect(res.status).toBe(200)
    const token = billing.last().headers['x-keyward-token'] as string
    expect(parts(token)[1].aud).toBe(billing.url)
    expect((await tokenRefusal(verifyKeywardToken(token, options))).code).toBe('token_invalid')
    await expect(
      verifyKeywardToken(token, { ...options, audience: billing.url }),
    ).resolves.toMatchObject({
      scopes: ['orders:read'],
    })
  })
})

it('refuses an expired token', async () => {
  // the service signs two minutes in the past: its tokens (60 s) have expired on arrival
  const svc = await startProxy({ clock: { now: () => Date.now() - 120_000 } })
  try {
    const { key } = await svc.createKey({ name: 'caller' })
    const token = await tokenThrough(svc, key)
    const options = { keys: svc.signer.jwks(), issuer: ISSUER, audience: svc.upstream.url }
    expect((await tokenRefusal(verifyKeywardToken(token, options))).code).toBe('token_expired')
  } finally {
    await svc.close()
  }
})

it('accepts a retired key during its overlap and refuses it after', async () => {
  const clock = fakeClock(Date.now())
  const svc = await startProxy({ clock })
  try {
    const { key } = await svc.createKey({ name: 'caller' })
    const token = await tokenThrough(svc, key)
    const options = () => ({
      keys: svc.signer.jwks(),
      issuer: ISSUER,
      audience: svc.upstream.url,
    })
    await rotateSigningKey({
      store: svc.store,
      secrets: { peppers: TEST_PEPPERS },
      clock,
      activateInMs: 0,
    })
    await svc.signer.reload()
    // new requests carry the new key; the old one is still published
    expect(parts(await tokenThrough(svc, key))[0].kid).not.toBe(parts(token)[0].kid)
    await expect(verifyKeywardToken(token, options())).resolves.toBeDefined()
    // past the overlap (62 minutes after retirement) the key is no longer published
    clock.advance(63 * 60_000)
    await svc.signer.reload()
    expect((await tokenRefusal(verifyKeywardToken(token, options()))).code).toBe('token_invalid')
  } finally {
    await svc.close()
  }
})
