// A change made through one Keyward reaches the caches of the others on the same store through
// a change feed, here the in-process bus: the library's side of "revoked everywhere within 1 s".
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryChangeBus, createMemoryStore } from '../stores/memory/index.js'
import type { Change, ChangeFeed, ChangeListener } from './changes.js'
import { KeywardError } from './errors.js'
import { createKeyward, type Keyward, type KeywardOptions } from './keyward.js'
import type { Store } from './types.js'

const peppers = [{ version: 1, secret: 'changes-test-pepper-0123456789abcdefXYZ' }]
const HOUR = 3_600_000

const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})

async function open(store: Store, extra: Partial<KeywardOptions> = {}): Promise<Keyward> {
  const keyward = await createKeyward({ store, peppers, cache: { ttlMs: HOUR }, ...extra })
  opened.push(keyward)
  return keyward
}

/** Two nodes on one store, joined by a bus; `lone` shares the store but hears nothing. */
async function nodes() {
  const store = createMemoryStore()
  const bus = createMemoryChangeBus()
  const a = await open(store, { changes: bus.feed() })
  const b = await open(store, { changes: bus.feed() })
  const lone = await open(store)
  return { store, bus, a, b, lone }
}

/** A feed that records what it is asked and publishes as `publish` says. */
function spyFeed(publish: (c: Change) => Promise<void> = async () => {}) {
  const published: Change[] = []
  const listeners: ChangeListener[] = []
  const feed: ChangeFeed = {
    async publish(change) {
      published.push(change)
      await publish(change)
    },
    subscribe(listener) {
      listeners.push(listener)
      return () => listeners.splice(listeners.indexOf(listener), 1)
    },
    async close() {},
  }
  return { feed, published, listeners }
}

describe('changes between Keyward instances', () => {
  it('a key revoked on one node is refused by the other once revokeKey returns', async () => {
    const { a, b, lone } = await nodes()
    const { key, record } = await a.createKey({ name: 'x' })
    for (const k of [a, b, lone]) expect((await k.verify(key)).ok).toBe(true)
    await a.revokeKey(record.id)
    expect(await b.verify(key)).toMatchObject({ ok: false, code: 'key_revoked' })
    // without a feed, the cached answer stands until the cache TTL
    expect((await lone.verify(key)).ok).toBe(true)
  })

  it('rotation with grace 0 and a scope change reach the other node', async () => {
    const { a, b } = await nodes()
    const { key, record } = await a.createKey({ name: 'x', scopes: ['orders:read'] })
    expect((await b.verify(key, { scopes: ['orders:read'] })).ok).toBe(true)
    const next = await a.rotateKey(record.id, { graceMs: 0 })
    expect(await b.verify(key)).toMatchObject({ ok: false, code: 'key_expired' })
    expect((await b.verify(next.key, { scopes: ['orders:read'] })).ok).toBe(true)
    await a.updateKey(record.id, { scopes: ['orders:write'] })
    expect(await b.verify(next.key, { scopes: ['orders:read'] })).toMatchObject({
      ok: false,
      code: 'insufficient_scope',
    })
    await a.updateKey(record.id, { enabled: false })
    expect(await b.verify(next.key)).toMatchObject({ ok: false, code: 'key_disabled' })
  })

  it('role changes reach the other node: a scope removed from a role, a role deleted', async () => {
    const { a, b } = await nodes()
    await a.setRole('reader', ['orders:read', 'invoices:read'])
    const { key } = await a.createKey({ name: 'x', roles: ['reader'] })
    expect((await b.verify(key, { scopes: ['invoices:read'] })).ok).toBe(true)
    await a.setRole('reader', ['orders:read'])
    expect(await b.verify(key, { scopes: ['invoices:read'] })).toMatchObject({
      code: 'insufficient_scope',
    })
    expect((await b.verify(key, { scopes: ['orders:read'] })).ok).toBe(true)
    await a.deleteRole('reader')
    expect(await b.verify(key, { scopes: ['orders:read'] })).toMatchObject({
      code: 'insufficient_scope',
    })
  })

  it('a reset (the channel was lost) drops everything cached, changes missed included', async () => {
    const { store, bus, b } = await nodes()
    const { key, record } = await b.createKey({ name: 'x' })
    expect((await b.verify(key)).ok).toBe(true)
    // a change nobody published (made while the channel was down)
    await store.updateKey(record.id, { state: 'revoked', revokedAt: 1, updatedAt: 1 })
    expect((await b.verify(key)).ok).toBe(true)
    bus.reset()
    expect(b.cacheSize()).toEqual({ found: 0, notFound: 0 })
    expect(await b.verify(key)).toMatchObject({ code: 'key_revoked' })
  })

  it('an event for a key this node never cached leaves its cache and store alone', async () => {
    const store = createMemoryStore()
    let finds = 0
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'findByHash') finds++
        return Reflect.get(target, prop, receiver)
      },
    })
    const bus = createMemoryChangeBus()
    const a = await open(store, { changes: bus.feed() })
    const b = await open(counting, { changes: bus.feed() })
    const { key, record } = await a.createKey({ name: 'cached' })
    const other = await a.createKey({ name: 'never seen by b' })
    expect((await b.verify(key)).ok).toBe(true)
    const before = finds
    await a.revokeKey(other.record.id)
    await a.invalidate({ kind: 'key', keyId: 'key_0000000000000000' })
    expect(b.cacheSize().found).toBe(1)
    expect((await b.verify(key)).ok).toBe(true)
    expect(finds).toBe(before)
    // while the key's own change does send b to the store
    await a.updateKey(record.id, { name: 'renamed' })
    expect((await b.verify(key)).ok).toBe(true)
    expect(finds).toBe(before + 1)
  })

  it('publishes after dropping locally; a failed publish fails the call but not the change', async () => {
    const store = createMemoryStore()
    let down = true
    const spy = spyFeed(async () => {
      if (down) throw new Error('channel down')
    })
    const a = await open(store, { changes: spy.feed })
    const { key, record } = await a.createKey({ name: 'x' })
    expect((await a.verify(key)).ok).toBe(true)
    const error = await a.revokeKey(record.id, { actor: 'ops' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeywardError)
    expect(error).toMatchObject({
      code: 'store_unavailable',
      message: `key ${record.id} changed, but other processes could not be told (channel down): they see it within the cache TTL; repeat the operation to tell them now`,
    })
    // applied here, stored, audited
    expect(await a.verify(key)).toMatchObject({ code: 'key_revoked' })
    expect((await a.getKey(record.id))?.state).toBe('revoked')
    expect((await a.listAudit({ keyId: record.id })).map((e) => e.action)).toContain('key.revoked')
    // repeating it tells the others again, though the key is already revoked
    down = false
    await a.revokeKey(record.id)
    expect(spy.published).toEqual([
      { kind: 'key', keyId: record.id, revoked: true },
      { kind: 'key', keyId: record.id, revoked: true },
    ])
  })

  it('verification never waits on the feed, even one that never answers', async () => {
    const spy = spyFeed(() => new Promise(() => {}))
    const store = createMemoryStore()
    const writer = await open(store)
    const { key } = await writer.createKey({ name: 'x' })
    const k = await open(store, { changes: spy.feed })
    expect((await k.verify(key)).ok).toBe(true) // from the store
    expect((await k.verify(key)).ok).toBe(true) // from the cache
    expect(k.verifyCached(key)).toMatchObject({ ok: true })
    expect(spy.published).toEqual([])
  })

  it('listens only with a cache, and stops listening on close', async () => {
    const store = createMemoryStore()
    const uncached = spyFeed()
    const u = await open(store, { changes: uncached.feed, cache: false })
    expect(uncached.listeners).toHaveLength(0)
    // without a cache it still tells the others
    const { record } = await u.createKey({ name: 'x' })
    await u.revokeKey(record.id)
    expect(uncached.published).toEqual([{ kind: 'key', keyId: record.id, revoked: true }])

    const cached = spyFeed()
    const c = await createKeyward({ store, peppers, changes: cached.feed })
    expect(cached.listeners).toHaveLength(1)
    await c.close()
    expect(cached.listeners).toHaveLength(0)
  })

  it('marks revoking and disabling as revocations; rotating, updating and enabling are not', async () => {
    const spy = spyFeed()
    const a = await open(createMemoryStore(), { changes: spy.feed })
    const { record } = await a.createKey({ name: 'x' })
    const id = record.id
    await a.rotateKey(id)
    await a.updateKey(id, { name: 'y' })
    await a.updateKey(id, { enabled: false })
    await a.updateKey(id, { enabled: true })
    await a.revokeKey(id)
    expect(spy.published).toEqual([
      { kind: 'key', keyId: id },
      { kind: 'key', keyId: id },
      { kind: 'key', keyId: id, revoked: true },
      { kind: 'key', keyId: id },
      { kind: 'key', keyId: id, revoked: true },
    ])
  })

  it('subscribe hears changes made here and heard on the feed, and resets', async () => {
    const store = createMemoryStore()
    const bus = createMemoryChangeBus()
    const a = await open(store, { changes: bus.feed() })
    // without a cache it listens only once someone subscribes
    const b = await open(store, { changes: bus.feed(), cache: false })
    const heard: (Change | string)[] = []
    const stop = b.subscribe({ change: (c) => heard.push(c), reset: () => heard.push('reset') })
    const { record } = await a.createKey({ name: 'x' })
    await a.revokeKey(record.id)
    await b.invalidate({ kind: 'roles' })
    bus.reset()
    expect(heard).toEqual([
      { kind: 'key', keyId: record.id, revoked: true },
      { kind: 'roles' },
      'reset',
    ])
    stop()
    await a.invalidate({ kind: 'roles' })
    expect(heard).toHaveLength(3)
  })

  it('refuses a "changes" option that is not a feed, and a malformed change', async () => {
    await expect(
      createKeyward({ store: createMemoryStore(), peppers, changes: {} as never }),
    ).rejects.toThrow(
      new KeywardError(
        'invalid_options',
        '"changes" must be a ChangeFeed (publish, subscribe, close), e.g. createPostgresChangeFeed({ pool })',
      ),
    )
    const k = await open(createMemoryStore())
    await expect(k.invalidate({ kind: 'key', keyId: 'nope' })).rejects.toMatchObject({
      code: 'invalid_argument',
    })
  })
})
