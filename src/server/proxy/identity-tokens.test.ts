// When the proxy signs a new X-Keyward-Token and when it sends the last one again: one per key
// and upstream for REUSE_MS, renewed at once when what the token says (scopes, owner) or the
// signing key changes. A reused token is handed out without a promise.
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { fakeClock, ISSUER, PEPPERS } from '../../../test/fixtures/tokens.js'
import type { VerifiedKey } from '../../core/verify-types.js'
import { createMemoryStore } from '../../stores/memory/memory-store.js'
import { createTokenSigner } from '../../tokens/signer.js'
import { rotateSigningKey } from '../../tokens/signing-keys.js'
import { identityTokens, REUSE_MS } from './identity-tokens.js'

const UPSTREAM = 'http://orders.internal:3000'
const OTHER_UPSTREAM = 'http://billing.internal:3000'

const closers: (() => void)[] = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

function key(overrides: Partial<VerifiedKey> = {}): VerifiedKey {
  return {
    id: 'key_0123456789abcdef',
    name: 'caller',
    ownerId: 'team-a',
    prefix: 'sk',
    hint: 'abcd',
    scopes: ['orders:read'],
    roles: [],
    metadata: {},
    expiresAt: null,
    rateLimits: [],
    quota: null,
    ...overrides,
  }
}

async function setup() {
  const store = createMemoryStore()
  await store.migrate()
  const clock = fakeClock()
  const signer = await createTokenSigner({ store, secrets: PEPPERS, issuer: ISSUER, clock })
  closers.push(() => signer.close())
  return { store, clock, signer, tokens: identityTokens(signer, clock) }
}

/** The token, awaiting it only when it is new. */
async function tokenOf(value: string | Promise<string>): Promise<string> {
  return typeof value === 'string' ? value : await value
}

describe('identity tokens', () => {
  it('signs a token for the key and upstream, then hands the same one out as a plain string', async () => {
    const { tokens } = await setup()
    const first = tokens.tokenFor(key(), UPSTREAM)
    expect(first).toBeInstanceOf(Promise)
    const token = await first
    expect(decodeJwt(token)).toMatchObject({
      sub: 'key_0123456789abcdef',
      aud: UPSTREAM,
      iss: ISSUER,
      scope: 'orders:read',
    })
    expect(tokens.tokenFor(key(), UPSTREAM)).toBe(token)
    // the same scopes in another array (the key read again from the store) are the same token
    expect(tokens.tokenFor(key({ scopes: ['orders:read'] }), UPSTREAM)).toBe(token)
  })

  it('asked again before the first signature is done, shares it', async () => {
    const { tokens } = await setup()
    const a = tokens.tokenFor(key(), UPSTREAM)
    const b = tokens.tokenFor(key(), UPSTREAM)
    expect(b).toBe(a)
    expect(await b).toBe(await a)
  })

  it('signs one token per upstream: each names its own audience', async () => {
    const { tokens } = await setup()
    const orders = await tokenOf(tokens.tokenFor(key(), UPSTREAM))
    const billing = await tokenOf(tokens.tokenFor(key(), OTHER_UPSTREAM))
    expect(decodeJwt(billing).aud).toBe(OTHER_UPSTREAM)
    expect(billing).not.toBe(orders)
  })

  it('signs a new token once the reuse window has passed, not before', async () => {
    const { tokens, clock } = await setup()
    const first = await tokenOf(tokens.tokenFor(key(), UPSTREAM))
    clock.advance(REUSE_MS - 1)
    expect(tokens.tokenFor(key(), UPSTREAM)).toBe(first)
    clock.advance(1)
    const renewed = await tokenOf(tokens.tokenFor(key(), UPSTREAM))
    expect(renewed).not.toBe(first)
    expect(decodeJwt(renewed).iat).toBe(decodeJwt(first).iat! + REUSE_MS / 1000)
  })

  it('signs a new token at once when the key’s scopes or owner change', async () => {
    const { tokens } = await setup()
    const first = await tokenOf(tokens.tokenFor(key(), UPSTREAM))
    const narrowed = await tokenOf(tokens.tokenFor(key({ scopes: [] }), UPSTREAM))
    expect(decodeJwt(narrowed).scope).toBe('')
    const widened = await tokenOf(
      tokens.tokenFor(key({ scopes: ['orders:read', 'orders:write'] }), UPSTREAM),
    )
    expect(decodeJwt(widened).scope).toBe('orders:read orders:write')
    expect(decodeJwt(first).owner).toBe('team-a')
    const moved = await tokenOf(tokens.tokenFor(key({ ownerId: 'team-b' }), UPSTREAM))
    expect(decodeJwt(moved).owner).toBe('team-b')
    expect(new Set([first, narrowed, widened, moved]).size).toBe(4)
  })

  it('signs a new token with the new signing key once the signer uses it', async () => {
    const { tokens, signer, store, clock } = await setup()
    const first = await tokenOf(tokens.tokenFor(key(), UPSTREAM))
    const { kid } = await rotateSigningKey({ store, secrets: PEPPERS, clock, activateInMs: 0 })
    await signer.reload()
    const after = await tokenOf(tokens.tokenFor(key(), UPSTREAM))
    expect(decodeProtectedHeader(first).kid).not.toBe(kid)
    expect(decodeProtectedHeader(after).kid).toBe(kid)
  })
})
