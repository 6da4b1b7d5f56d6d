import { describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../core/keyward.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { SERVICE_IMPLIED_SCOPES } from './app.js'
import { BOOTSTRAP_META, bootstrapAdminKey, bootstrapMessage, hasAdminKey } from './bootstrap.js'

function makeKeyward(clock?: { now(): number }): Promise<Keyward> {
  return createKeyward({
    ...(clock ? { clock } : {}),
    store: createMemoryStore(),
    peppers: [{ version: 1, secret: 'bootstrap-test-pepper-0123456789abcdefghijkl' }],
    impliedScopes: SERVICE_IMPLIED_SCOPES,
  })
}

describe('bootstrapAdminKey', () => {
  it('creates one admin key, once, even when several starts race', async () => {
    const keyward = await makeKeyward()
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => bootstrapAdminKey(keyward)))
    const created = results.filter((r) => r.created)
    expect(created).toHaveLength(1)
    expect(results.filter((r) => !r.created && r.reason === 'another node')).toHaveLength(4)
    const { key, record } = created[0] as Extract<(typeof results)[number], { created: true }>
    expect(record).toMatchObject({ name: 'bootstrap admin', scopes: ['admin'] })
    // the key may call every admin route
    const verified = await keyward.verify(key, { scopes: ['keys:write', 'roles:write'] })
    expect(verified.ok).toBe(true)
    expect((await keyward.listKeys()).items).toHaveLength(1)
  })

  it('never creates another, even after the first is revoked', async () => {
    const keyward = await makeKeyward()
    const first = await bootstrapAdminKey(keyward)
    if (!first.created) throw new Error('expected a key')
    await keyward.revokeKey(first.record.id)
    expect(await bootstrapAdminKey(keyward)).toEqual({ created: false, reason: 'decided before' })
    expect((await keyward.listKeys()).items).toHaveLength(1)
  })

  it('creates none when an admin key exists, and records that', async () => {
    const keyward = await makeKeyward()
    await keyward.createKey({ name: 'ops', scopes: ['admin'] })
    expect(await bootstrapAdminKey(keyward)).toEqual({
      created: false,
      reason: 'admin key exists',
    })
    expect(await keyward.store.getMeta(BOOTSTRAP_META)).toContain('"created":false')
    expect(await bootstrapAdminKey(keyward)).toEqual({ created: false, reason: 'decided before' })
  })
})

describe('hasAdminKey', () => {
  it.each([
    { name: 'the admin scope', input: { scopes: ['admin'] }, admin: true },
    { name: 'a lone *', input: { scopes: ['*'] }, admin: true },
    {
      name: 'every admin scope',
      input: { scopes: ['keys:*', 'roles:write', 'audit:read'] },
      admin: true,
    },
    { name: 'a role granting admin', input: { roles: ['operators'] }, admin: true },
    { name: 'some admin scopes', input: { scopes: ['keys:read', 'keys:write'] }, admin: false },
  ])('$name: $admin', async ({ input, admin }) => {
    const keyward = await makeKeyward()
    await keyward.setRole('operators', ['admin'])
    await keyward.createKey({ name: 'k', ...input })
    expect(await hasAdminKey(keyward)).toBe(admin)
  })

  it('ignores revoked and expired admin keys', async () => {
    let now = Date.now()
    const keyward = await makeKeyward({ now: () => now })
    const { record } = await keyward.createKey({ name: 'old', scopes: ['admin'] })
    await keyward.revokeKey(record.id)
    await keyward.createKey({ name: 'gone', scopes: ['admin'], expiresInMs: 60_000 })
    expect(await hasAdminKey(keyward)).toBe(true)
    now += 120_000
    expect(await hasAdminKey(keyward)).toBe(false)
  })
})

it('bootstrapMessage shows the key and a curl line for the service URL', () => {
  const text = bootstrapMessage(
    'kw_live_x',
    { id: 'key_abc', name: 'bootstrap admin' } as never,
    'https://10.0.0.1:8443',
  )
  expect(text).toContain('\n    kw_live_x\n')
  expect(text).toContain('curl -H "Authorization: Bearer kw_live_x" https://10.0.0.1:8443/v1/keys')
  expect(text).toContain('DELETE /v1/keys/key_abc')
})
