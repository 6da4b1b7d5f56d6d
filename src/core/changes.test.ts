import { describe, expect, it } from 'vitest'
import {
  type ChangeFeed,
  ChangeListeners,
  checkChange,
  combineChangeFeeds,
  encodeChange,
  reconnectDelayMs,
} from './changes.js'
import { KeywardError } from './errors.js'
import { recorder } from '../../test/helpers/changes.js'

const KEY = 'key_0123456789abcdef'

describe('ChangeListeners', () => {
  it('delivers what another feed encoded, and skips what it encoded itself', () => {
    const mine = new ChangeListeners()
    const theirs = new ChangeListeners()
    const r = recorder()
    mine.add(r.listener)
    mine.received(encodeChange(theirs.origin, { kind: 'key', keyId: KEY }))
    mine.received(encodeChange(theirs.origin, { kind: 'roles' }))
    mine.received(encodeChange(mine.origin, { kind: 'key', keyId: KEY }))
    mine.received(encodeChange(mine.origin, { kind: 'roles' }))
    expect(r.heard).toEqual([{ kind: 'key', keyId: KEY }, { kind: 'roles' }])
  })

  it('carries a revocation as its own word, so token revocation lists can tell it apart', () => {
    const mine = new ChangeListeners()
    const r = recorder()
    mine.add(r.listener)
    const revoked = encodeChange('abc', { kind: 'key', keyId: KEY, revoked: true })
    expect(revoked).toBe(`abc revoked ${KEY}`)
    expect(encodeChange('abc', { kind: 'key', keyId: KEY, revoked: false })).toBe(`abc key ${KEY}`)
    mine.received(revoked)
    mine.received('abc revoked key_x')
    expect(r.heard).toEqual([{ kind: 'key', keyId: KEY, revoked: true }, 'reset'])
  })

  it('resets on a message it cannot read: dropping the cache is always safe', () => {
    const l = new ChangeListeners()
    const r = recorder()
    l.add(r.listener)
    for (const m of ['', 'x', 'abc key not-a-key-id', 'abc drop everything', 'abc key '])
      l.received(m)
    expect(r.heard).toEqual(['reset', 'reset', 'reset', 'reset', 'reset'])
  })

  it('stops telling a listener once it unsubscribed', () => {
    const l = new ChangeListeners()
    const r = recorder()
    const stop = l.add(r.listener)
    l.deliver({ kind: 'roles' })
    stop()
    l.deliver({ kind: 'roles' })
    l.reset()
    expect(r.heard).toEqual([{ kind: 'roles' }])
    expect(l.size).toBe(0)
  })

  it('refuses a listener without change() and reset()', () => {
    expect(() => new ChangeListeners().add({ change: () => {} } as never)).toThrow(
      /change\(change\) and reset\(\)/,
    )
  })
})

describe('checkChange', () => {
  it('accepts a key change and a roles change, and names the shape of anything else', () => {
    expect(checkChange({ kind: 'roles' })).toEqual({ kind: 'roles' })
    expect(checkChange({ kind: 'key', keyId: KEY })).toEqual({ kind: 'key', keyId: KEY })
    const revoked = { kind: 'key', keyId: KEY, revoked: true } as const
    expect(checkChange(revoked)).toEqual(revoked)
    for (const bad of [
      null,
      'key_0123456789abcdef',
      { kind: 'key', keyId: 'x' },
      { kind: 'key', keyId: KEY, revoked: 'yes' },
      { kind: 'all' },
    ])
      expect(() => checkChange(bad as never)).toThrow(
        new KeywardError(
          'invalid_argument',
          `a change is { kind: "key", keyId: "key_…", revoked?: boolean } or { kind: "roles" }, got ${JSON.stringify(bad)}`,
        ),
      )
  })
})

describe('combineChangeFeeds', () => {
  function fake(publish: () => Promise<void>): ChangeFeed & { closed: boolean } {
    const feed = {
      closed: false,
      publish,
      subscribe: () => () => {},
      async close() {
        feed.closed = true
      },
    }
    return feed
  }

  it('resolves as soon as one channel took the change, without waiting for a hung one', async () => {
    const hung = fake(() => new Promise(() => {}))
    const ok = fake(async () => {})
    await combineChangeFeeds([hung, ok]).publish({ kind: 'roles' })
  })

  it('rejects with the first error when no channel took it', async () => {
    const a = fake(async () => {
      throw new Error('a is down')
    })
    const b = fake(async () => {
      throw new Error('b is down')
    })
    await expect(combineChangeFeeds([a, b]).publish({ kind: 'roles' })).rejects.toThrow('a is down')
  })

  it('subscribes the listener to every channel and closes them all', async () => {
    const a = new ChangeListeners()
    const b = new ChangeListeners()
    const feeds = [a, b].map((l) => ({
      publish: async () => {},
      subscribe: (listener: Parameters<ChangeListeners['add']>[0]) => l.add(listener),
      closed: false,
      async close() {
        this.closed = true
      },
    }))
    const combined = combineChangeFeeds(feeds)
    const r = recorder()
    const stop = combined.subscribe(r.listener)
    a.deliver({ kind: 'roles' })
    b.reset()
    stop()
    a.reset()
    expect(r.heard).toEqual([{ kind: 'roles' }, 'reset'])
    await combined.close()
    expect(feeds.map((f) => f.closed)).toEqual([true, true])
  })
})

describe('reconnectDelayMs', () => {
  it('starts at 100 ms and doubles up to 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map(reconnectDelayMs)).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000,
    ])
  })
})
