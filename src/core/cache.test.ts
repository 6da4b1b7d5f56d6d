import { describe, expect, it } from 'vitest'
import { VerifyCache } from './cache.js'

describe('VerifyCache writes of lookups in flight', () => {
  it('refuses a key evicted after the lookup started, and takes others', () => {
    const cache = new VerifyCache<string>(10, 1000, 1000)
    const epoch = cache.epoch
    cache.evictKey('key_a')
    expect(cache.set('ha', 'key_a', 'old', 0, epoch)).toBe(false)
    expect(cache.get('ha', 0)).toBeUndefined()
    expect(cache.set('hb', 'key_b', 'b', 0, epoch)).toBe(true)
    expect(cache.get('hb', 0)).toBe('b')
    // a lookup that starts after the eviction may cache the new state
    expect(cache.set('ha', 'key_a', 'new', 0, cache.epoch)).toBe(true)
    expect(cache.get('ha', 0)).toBe('new')
  })

  it('takes a key evicted just before the lookup started, though others were evicted since', () => {
    const cache = new VerifyCache<string>(10, 1000, 1000)
    cache.evictKey('key_a')
    const epoch = cache.epoch
    cache.evictKey('key_b')
    expect(cache.set('ha', 'key_a', 'new', 0, epoch)).toBe(true)
    expect(cache.get('ha', 0)).toBe('new')
  })

  it('still evicts every cached secret of a key after one of them expired', () => {
    // a key in its rotation grace period has two secrets, cached at different times
    const cache = new VerifyCache<string>(10, 1000, 1000)
    cache.set('h_old', 'key_a', 'a', 0, cache.epoch)
    cache.set('h_new', 'key_a', 'a', 500, cache.epoch)
    expect(cache.get('h_old', 1200)).toBeUndefined() // expired
    cache.evictKey('key_a') // revoked
    expect(cache.get('h_new', 1200)).toBeUndefined()
  })

  it('judges conservatively once the eviction is too old to be remembered', () => {
    const cache = new VerifyCache<string>(10, 1000, 1000)
    const epoch = cache.epoch
    cache.evictKey('key_a')
    for (let i = 0; i < 4096; i++) cache.evictKey(`key_${i}`)
    // key_a's eviction is forgotten: unsure, so refused; so is a key never evicted
    expect(cache.set('ha', 'key_a', 'old', 0, epoch)).toBe(false)
    expect(cache.set('hz', 'key_z', 'z', 0, epoch)).toBe(false)
    const later = cache.epoch
    expect(cache.set('hz', 'key_z', 'z', 0, later)).toBe(true)
    // 4096 evictions are remembered by id: a lookup with exactly 4096 after it is still
    // judged exactly
    const mid = cache.epoch
    cache.evictKey('key_q')
    for (let i = 0; i < 4095; i++) cache.evictKey(`other_${i}`)
    expect(cache.set('hy', 'key_y', 'y', 0, mid)).toBe(true)
    expect(cache.set('hq', 'key_q', 'q', 0, mid)).toBe(false)
  })

  it('refuses every found entry and every "not found" of lookups that started before a clear', () => {
    const cache = new VerifyCache<string>(10, 1000, 1000)
    const epoch = cache.epoch
    cache.clear()
    expect(cache.set('ha', 'key_a', 'a', 0, epoch)).toBe(false)
    expect(cache.setNotFound('hn', 0, epoch)).toBe(false)
    expect(cache.get('hn', 0)).toBeUndefined()
    expect(cache.setNotFound('hn', 0, cache.epoch)).toBe(true)
    expect(cache.get('hn', 0)).toBeNull()
  })

  it('refuses a "not found" that started before a key was created', () => {
    const cache = new VerifyCache<string>(10, 1000, 1000)
    const epoch = cache.epoch
    cache.forgetNotFound('hx')
    expect(cache.setNotFound('hx', 0, epoch)).toBe(false)
    expect(cache.get('hx', 0)).toBeUndefined()
    // creations do not stop found keys from being cached
    expect(cache.set('hy', 'key_y', 'y', 0, epoch)).toBe(true)
  })
})

describe('VerifyCache bounds', () => {
  it('expires found entries after the TTL and "not found" after the negative TTL', () => {
    const cache = new VerifyCache<string>(10, 1000, 100)
    cache.set('h', 'key_a', 'a', 0, cache.epoch)
    cache.setNotFound('n', 0, cache.epoch)
    expect(cache.get('h', 999)).toBe('a')
    expect(cache.get('n', 99)).toBeNull()
    expect(cache.get('n', 100)).toBeUndefined()
    expect(cache.get('h', 1000)).toBeUndefined()
    expect(cache.size).toEqual({ found: 0, notFound: 0 })
  })

  it('keeps at most maxEntries of each kind, oldest out first, so unknown keys cannot push out real ones', () => {
    const cache = new VerifyCache<string>(2, 1000, 1000)
    for (const h of ['a', 'b', 'c']) cache.set(h, `key_${h}`, h, 0, cache.epoch)
    for (const h of ['x', 'y', 'z', 'w']) cache.setNotFound(h, 0, cache.epoch)
    expect(cache.size).toEqual({ found: 2, notFound: 2 })
    expect(cache.get('a', 0)).toBeUndefined()
    expect(cache.get('c', 0)).toBe('c')
    expect(cache.get('x', 0)).toBeUndefined()
    expect(cache.get('w', 0)).toBeNull()
    // evicting a key drops all its hashes (e.g. an old and a new secret)
    cache.set('c2', 'key_c', 'c', 0, cache.epoch)
    cache.evictKey('key_c')
    expect(cache.get('c', 0)).toBeUndefined()
    expect(cache.get('c2', 0)).toBeUndefined()
    expect(cache.get('b', 0)).toBeUndefined()
  })

  it('caches nothing negative with a negative TTL of 0', () => {
    const cache = new VerifyCache<string>(2, 1000, 0)
    expect(cache.setNotFound('x', 0, cache.epoch)).toBe(false)
    expect(cache.get('x', 0)).toBeUndefined()
  })
})
