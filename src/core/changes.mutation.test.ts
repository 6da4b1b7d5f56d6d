// Change feeds: messages without an origin, listeners' errors, what counts as a feed, and
// closing a combined feed whose channel fails to close.
import { describe, expect, it } from 'vitest'
import { recorder } from '../../test/helpers/changes.js'
import {
  type ChangeFeed,
  ChangeListeners,
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
