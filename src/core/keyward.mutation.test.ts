// createKeyward's options as a caller meets them (each refusal names the option), and the
// methods that only pass a call on: audit listing, finding a secret, invalidation of roles.
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryStore } from '../stores/memory/index.js'
import type { ChangeFeed, ChangeListener } from './changes.js'
import { KeywardError } from './errors.js'
import { createHasher } from './hash.js'
import { createKeyward, type Keyward, type KeywardOptions } from './keyward.js'

const v1 = { version: 1, secret: 'keyward-mutation-pepper-v1-0123456789abcd' }
const v2 = { version: 2, secret: 'keyward-mutation-pepper-v2-0123456789abcd' }
const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})

async function open(options: Partial<KeywardOptions> = {}): Promise<Keyward> {
  const keyward = await createKeyward({ store: createMemoryStore(), peppers: [v1], ...options })
  opened.push(keyward)
  return keyward
}

const invalid = (message: string) => new KeywardError('invalid_options', message)

describe('createKeyward options', () => {
  it('names a missing store, an unknown option and a bad setting', async () => {
    const storeMessage = '"store" must be a keyward Store (e.g. createSqliteStore({ db }))'
    await expect(createKeyward({ peppers: [v1] } as never)).rejects.toThrow(invalid(storeMessage))
    await expect(createKeyward({ store: {} as never, peppers: [v1] })).rejects.toThrow(
      invalid(storeMessage),
    )
    await expect(
      createKeyward({ store: createMemoryStore(), peppers: [v1], cahce: false } as never),
    ).rejects.toThrow(/unknown option "cahce" for createKeyward: expected one of store, peppers/)
    await expect(open({ acceptPrefixes: ['KW'] })).rejects.toThrow(/prefix "KW" is not valid/)
    await expect(open({ usageFlushIntervalMs: 1.5 })).rejects.toThrow(
      invalid('"usageFlushIntervalMs" must be a positive whole number, got 1.5'),
    )
    await expect(open({ changes: { publish: async () => {} } as never })).rejects.toThrow(
      invalid(
        '"changes" must be a ChangeFeed (publish, subscribe, close), e.g. createPostgresChangeFeed({ pool })',
      ),
    )
  })

  it('names bad implied scopes', async () => {
    const shape = invalid(
      '"impliedScopes" must be an object of scope -> implied scopes, e.g. { admin: ["keys:read"] }',
    )
    for (const bad of [null, [], 'admin'])
      await expect(open({ impliedScopes: bad as never })).rejects.toThrow(shape)
    const error = await open({ impliedScopes: { admin: ['NOT A SCOPE'] } }).catch((e) => e)
    expect(error).toBeInstanceOf(KeywardError)
    expect(error).toMatchObject({
      code: 'invalid_options',
      message: expect.stringMatching(/^"impliedScopes": /),
    })
  })

  it('names a bad audit setting', async () => {
    const shape = invalid(
      '"audit" must be an object, e.g. { denials: true, flushIntervalMs: 5000 }',
    )
    for (const bad of [null, [], 'on'])
      await expect(open({ audit: bad as never })).rejects.toThrow(shape)
    await expect(open({ audit: { batchSize: 0 } })).rejects.toThrow(
      invalid('"audit.batchSize" must be a positive whole number, got 0'),
    )
    await expect(open({ audit: { maxPending: -1 } })).rejects.toThrow(
      invalid('"audit.maxPending" must be a positive whole number, got -1'),
    )
    await expect(
      open({ audit: { denials: true, flushIntervalMs: 1, batchSize: 1, maxPending: 1 } }),
    ).resolves.toBeDefined()
  })

  it('takes a ready hasher as peppers', async () => {
    const keyward = await open({ peppers: createHasher([v1]) })
    const { key } = await keyward.createKey({ name: 'k' })
    expect((await keyward.verify(key)).ok).toBe(true)
  })

  it('verifies imported secrets by default, and refuses them when told to', async () => {
    const store = createMemoryStore()
    const keyward = await open({ store })
    await keyward.importKey('legacy-secret-0123456789', { name: 'legacy' })
    expect((await keyward.verify('legacy-secret-0123456789')).ok).toBe(true)
    const strict = await open({ store, allowImported: false })
    expect(await strict.verify('legacy-secret-0123456789')).toMatchObject({ code: 'key_invalid' })
  })
})

describe('Keyward', () => {
  it('lists the 100 newest audit events by default', async () => {
    const keyward = await open()
    for (let i = 0; i < 101; i++) await keyward.createKey({ name: `k${i}` })
    expect(await keyward.listAudit()).toHaveLength(100)
    expect(await keyward.listAudit({ limit: 101 })).toHaveLength(101)
  })

  it('finds the key of a secret under any configured pepper, and nothing for others', async () => {
    const store = createMemoryStore()
    const old = await open({ store })
    const { key, record } = await old.createKey({ name: 'k' })
    const both = await open({ store, peppers: [v2, v1] })
    await expect(both.findSecret(key)).resolves.toMatchObject({ key: { id: record.id } })
    const { key: newer, record: newerRecord } = await both.createKey({ name: 'n' })
    await expect(both.findSecret(newer)).resolves.toMatchObject({ key: { id: newerRecord.id } })
    await expect(
      both.findSecret(`${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}`),
    ).resolves.toBeNull()
  })

  it('reports a roles change that could not be published, with what the feed said', async () => {
    const feed: ChangeFeed = {
      publish: async () => {
        throw 'refused'
      },
      subscribe: () => () => {},
      close: async () => {},
    }
    const keyward = await open({ changes: feed })
    const error = await keyward.setRole('reader', ['a:read']).catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'store_unavailable',
      message:
        'the roles changed, but other processes could not be told (refused): they see it within the cache TTL; repeat the operation to tell them now',
      cause: 'refused',
    })
    // as logs print it
    expect(String(error)).toMatch(/^KeywardError: the roles changed/)
  })

  it('counts cached keys and remembered unknown ones', async () => {
    const keyward = await open()
    const { key } = await keyward.createKey({ name: 'k' })
    await keyward.verify(key)
    await keyward.verify('legacy-secret-unknown-0123')
    expect(keyward.cacheSize()).toEqual({ found: 1, notFound: 1 })
    const off = await open({ cache: false })
    await off.verify(key)
    expect(off.cacheSize()).toEqual({ found: 0, notFound: 0 })
  })
})

describe('the change feed as subscribers hear it', () => {
  /** A feed whose one subscriber the test can call, as another process's publish would. */
  function remoteFeed() {
    const subscribers: ChangeListener[] = []
    const feed: ChangeFeed = {
      publish: async () => {},
      subscribe: (listener) => {
        subscribers.push(listener)
        return () => {}
      },
      close: async () => {},
    }
    return { feed, subscribers }
  }

  it('subscribes to the feed once, however many listeners there are', async () => {
    const { feed, subscribers } = remoteFeed()
    const keyward = await open({ changes: feed })
    const heard: string[] = []
    keyward.subscribe({ change: (c) => heard.push(`a ${c.kind}`), reset: () => {} })
    keyward.subscribe({ change: (c) => heard.push(`b ${c.kind}`), reset: () => {} })
    expect(subscribers).toHaveLength(1)
    subscribers[0]!.change({ kind: 'roles' })
    expect(heard).toEqual(['a roles', 'b roles'])
  })

  it('hands a failure of the feed to onError and to the listeners', async () => {
    const { feed, subscribers } = remoteFeed()
    const errors: unknown[] = []
    const keyward = await open({ changes: feed, onError: (e) => errors.push(e) })
    const heard: unknown[] = []
    keyward.subscribe({ change: () => {}, reset: () => {}, error: (e) => heard.push(e) })
    const lost = new Error('channel lost')
    subscribers[0]!.error?.(lost)
    expect(errors).toEqual([lost])
    expect(heard).toEqual([lost])
  })

  it('reports a publish that failed without an Error, with what the feed gave', async () => {
    const feed: ChangeFeed = {
      publish: () => Promise.reject(undefined),
      subscribe: () => () => {},
      close: async () => {},
    }
    const keyward = await open({ changes: feed })
    await expect(keyward.setRole('reader', ['a:read'])).rejects.toMatchObject({
      code: 'store_unavailable',
      message:
        'the roles changed, but other processes could not be told (undefined): they see it within the cache TTL; repeat the operation to tell them now',
    })
  })
})
