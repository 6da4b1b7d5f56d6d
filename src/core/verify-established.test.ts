// Verifier.verifyEstablished: a key whose secret was verified earlier (a dashboard session) is
// judged again from the store on every call, with the same rules as verify().
import { describe, expect, it } from 'vitest'
import { createMemoryStore } from '../stores/memory/index.js'
import { keyHint } from './key-format.js'
import { createKeyward } from './keyward.js'
import type { Store } from './types.js'

const peppers = [{ version: 1, secret: 'keyward-test-pepper-0123456789abcdefgh' }]

function fakeClock(start = Date.UTC(2026, 0, 1)) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

async function setup() {
  const clock = fakeClock()
  const store = createMemoryStore()
  const keyward = await createKeyward({
    store,
    peppers,
    clock,
    impliedScopes: { admin: ['keys:read', 'keys:write'] },
  })
  const { key, record } = await keyward.createKey({ name: 'ops', scopes: ['admin'] })
  // the session is established the only way it may be: by a verified secret
  const first = await keyward.verify(key, { scopes: ['keys:read'] })
  if (!first.ok) throw new Error('the admin key did not verify')
  const established = { keyId: first.key.id, hint: first.key.hint }
  return { clock, store, keyward, key, record, established }
}

describe('verifyEstablished', () => {
  it('admits the key with its implied scopes and refuses a scope it lacks', async () => {
    const { keyward, established, key } = await setup()
    expect(established.hint).toBe(keyHint(key))
    const ok = await keyward.verifier.verifyEstablished(established, { scopes: ['keys:write'] })
    expect(ok.ok && ok.key.id).toBe(established.keyId)
    const no = await keyward.verifier.verifyEstablished(established, { scopes: ['audit:read'] })
    expect(no).toMatchObject({
      ok: false,
      code: 'insufficient_scope',
      missingScopes: ['audit:read'],
    })
  })

  it('refuses a revoked key on the next call, though verify() may still answer from its cache', async () => {
    const { keyward, store, established, record } = await setup()
    // revoked behind the library's back (another node, by SQL): only the store knows
    await store.updateKey(record.id, { state: 'revoked', revokedAt: 1, updatedAt: 1 })
    const r = await keyward.verifier.verifyEstablished(established)
    expect(r).toMatchObject({ ok: false, code: 'key_revoked', keyId: record.id })
  })

  it('ends with the secret it was established by: a finished rotation refuses the old hint', async () => {
    const { keyward, established, record, clock } = await setup()
    const rotated = await keyward.rotateKey(record.id, { graceMs: 60_000 })
    expect((await keyward.verifier.verifyEstablished(established)).ok).toBe(true)
    clock.advance(60_000)
    expect(await keyward.verifier.verifyEstablished(established)).toMatchObject({
      ok: false,
      code: 'key_expired',
    })
    const fresh = { keyId: record.id, hint: keyHint(rotated.key) }
    expect((await keyward.verifier.verifyEstablished(fresh)).ok).toBe(true)
  })

  it('refuses an expired or disabled key', async () => {
    const { keyward, established, record, clock } = await setup()
    await keyward.updateKey(record.id, { enabled: false })
    expect(await keyward.verifier.verifyEstablished(established)).toMatchObject({
      code: 'key_disabled',
    })
    await keyward.updateKey(record.id, { enabled: true, expiresAt: clock.now() + 1000 })
    expect((await keyward.verifier.verifyEstablished(established)).ok).toBe(true)
    clock.advance(1000)
    expect(await keyward.verifier.verifyEstablished(established)).toMatchObject({
      code: 'key_expired',
    })
  })

  it('answers key_invalid for a key or secret that does not exist', async () => {
    const { keyward, established } = await setup()
    const r1 = await keyward.verifier.verifyEstablished({
      ...established,
      keyId: 'key_0000000000000000',
    })
    expect(r1).toEqual({ ok: false, code: 'key_invalid' })
    const r2 = await keyward.verifier.verifyEstablished({
      ...established,
      hint: 'kw_live_AAAA…ZZZZ',
    })
    expect(r2).toEqual({ ok: false, code: 'key_invalid' })
  })

  it('applies the IP allowlist to the address of the call', async () => {
    const { keyward, established, record } = await setup()
    await keyward.updateKey(record.id, { ipAllowlist: ['10.0.0.0/8'] })
    expect((await keyward.verifier.verifyEstablished(established, { ip: '10.1.2.3' })).ok).toBe(
      true,
    )
    expect(
      await keyward.verifier.verifyEstablished(established, { ip: '192.0.2.1' }),
    ).toMatchObject({
      code: 'ip_not_allowed',
    })
  })

  it('answers store_unavailable, never a denial, when the store fails', async () => {
    const { keyward, store, established } = await setup()
    const broken = store as Store & { getKey: Store['getKey'] }
    broken.getKey = async () => {
      throw new Error('connection refused')
    }
    const r = await keyward.verifier.verifyEstablished(established)
    expect(r).toMatchObject({
      ok: false,
      code: 'store_unavailable',
      retryAfterSeconds: expect.any(Number),
    })
  })
})
