// Change feeds: messages without an origin, listeners' errors, what counts as a feed, and
// closing a combined feed whose channel fails to close.
import { describe, expect, it } from 'vitest'
import { recorder } from '../../test/helpers/changes.js'
import {
  type ChangeFeed,
  ChangeListeners,
  checkChange,
  combineChangeFeeds,
  isChangeFeed,
  keyChange,
  newOrigin,
} from './changes.js'

const KEY = 'key_0123456789abcdef'

describe('ChangeListeners', () => {
  it('resets on a message without an origin before its first space', () => {
    const l = new ChangeListeners()
    const r = recorder()
    l.add(r.listener)
    l.received(` key ${KEY}`)
    l.received(' roles')
    expect(r.heard).toEqual(['reset', 'reset'])
  })

  it('resets on its own origin glued to other text, and on an unknown word before a key id', () => {
    const l = new ChangeListeners()
    const r = recorder()
    l.add(r.listener)
    l.received(`${l.origin}x`)
    l.received(`abc xyz ${KEY}`)
    expect(r.heard).toEqual(['reset', 'reset'])
  })

  it('refuses a listener without change(), and no listener at all', () => {
    const message = 'subscribe needs a listener with change(change) and reset() methods'
    expect(() => new ChangeListeners().add({ reset: () => {} } as never)).toThrow(message)
    expect(() => new ChangeListeners().add(null as never)).toThrow(message)
  })

  it('passes background errors to the listeners that take them', () => {
    const l = new ChangeListeners()
    const r = recorder()
    l.add(r.listener)
    l.add({ change: () => {}, reset: () => {} })
    const error = new Error('lost')
    l.error(error)
    expect(r.errors).toEqual([error])
  })

  it('has a random origin per feed, safe in a message', () => {
    const origin = newOrigin()
    expect(origin).toMatch(/^[A-Za-z0-9_-]{12}$/)
    expect(newOrigin()).not.toBe(origin)
  })
})

describe('checkChange', () => {
  it('refuses a key id that is not a string, even one that reads as an id', () => {
    expect(() => checkChange({ kind: 'key', keyId: new String(KEY) } as never)).toThrow(
      /^a change is \{ kind: "key"/,
    )
  })
})

describe('keyChange', () => {
  it('builds a key change, marked revoked only when it is, or null for a malformed id', () => {
    expect(keyChange(KEY, false)).toEqual({ kind: 'key', keyId: KEY })
    expect(keyChange(KEY, true)).toEqual({ kind: 'key', keyId: KEY, revoked: true })
    expect(keyChange('key_x', true)).toBeNull()
  })
})

describe('isChangeFeed', () => {
  it('takes an object with publish, subscribe and close functions only', () => {
    const fn = () => {}
    expect(isChangeFeed({ publish: fn, subscribe: fn, close: fn })).toBe(true)
    for (const bad of [
      null,
      undefined,
      'feed',
      fn,
      { subscribe: fn, close: fn },
      { publish: fn, close: fn },
      { publish: fn, subscribe: fn },
      { publish: 1, subscribe: fn, close: fn },
    ])
      expect(isChangeFeed(bad)).toBe(false)
  })
})

describe('combineChangeFeeds', () => {
  it('closes every channel, then rejects with the failure of one', async () => {
    const closed: string[] = []
    const feed = (name: string, fails: boolean): ChangeFeed => ({
      publish: async () => {},
      subscribe: () => () => {},
      close: async () => {
        closed.push(name)
        if (fails) throw new Error(`${name} did not close`)
      },
    })
    const combined = combineChangeFeeds([feed('a', false), feed('b', true), feed('c', false)])
    await expect(combined.close()).rejects.toThrow('b did not close')
    expect(closed).toEqual(['a', 'b', 'c'])
    await expect(
      combineChangeFeeds([feed('d', false), feed('e', false)]).close(),
    ).resolves.toBeUndefined()
  })

  it('publishes on every channel', async () => {
    const published: string[] = []
    const feed = (name: string): ChangeFeed => ({
      publish: async () => {
        published.push(name)
      },
      subscribe: () => () => {},
      close: async () => {},
    })
    await combineChangeFeeds([feed('a'), feed('b')]).publish({ kind: 'roles' })
    expect(published).toEqual(['a', 'b'])
  })
})
