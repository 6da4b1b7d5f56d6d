import { describe, expect, it } from 'vitest'
import { fakeClock, NOW_SEC } from '../../test/fixtures/tokens.js'
import { ChangeListeners } from '../core/changes.js'
import { KeywardError } from '../core/errors.js'
import { createRevocationList } from './revocations.js'

const A = 'key_AAAAAAAAAAAAAAAA'
const B = 'key_BBBBBBBBBBBBBBBB'

function feed() {
  const listeners = new ChangeListeners()
  return { listeners, changes: { subscribe: listeners.add.bind(listeners) } }
}

describe('createRevocationList', () => {
  it('refuses tokens of a revoked key issued before it heard of it, plus the clock skew', () => {
    const clock = fakeClock()
    const { listeners, changes } = feed()
    const list = createRevocationList({ changes, clock })
    expect(list.isRevoked(A, NOW_SEC)).toBe(false)
    listeners.deliver({ kind: 'key', keyId: A, revoked: true })
    expect(list.isRevoked(A, NOW_SEC - 100)).toBe(true)
    expect(list.isRevoked(A, NOW_SEC + 5)).toBe(true)
    expect(list.isRevoked(A, NOW_SEC + 6)).toBe(false)
    expect(list.isRevoked(B, NOW_SEC)).toBe(false)
    expect(list.size).toBe(1)
  })

  it('ignores changes that are not revocations, and resets', () => {
    const { listeners, changes } = feed()
    const list = createRevocationList({ changes, clock: fakeClock() })
    listeners.deliver({ kind: 'key', keyId: A })
    listeners.deliver({ kind: 'roles' })
    listeners.reset()
    expect(list.size).toBe(0)
    expect(list.isRevoked(A, NOW_SEC)).toBe(false)
  })

  it('takes clockSkewMs, and a later revocation of the same key moves its cutoff', () => {
    const clock = fakeClock()
    const { listeners, changes } = feed()
    const list = createRevocationList({ changes, clock, clockSkewMs: 0 })
    listeners.deliver({ kind: 'key', keyId: A, revoked: true })
    expect(list.isRevoked(A, NOW_SEC + 1)).toBe(false)
    clock.advance(30_000)
    listeners.deliver({ kind: 'key', keyId: A, revoked: true })
    expect(list.isRevoked(A, NOW_SEC + 30)).toBe(true)
    expect(list.size).toBe(1)
  })

  it('drops an id once every token issued before it has expired (an hour and a minute)', () => {
    const clock = fakeClock()
    const { listeners, changes } = feed()
    const list = createRevocationList({ changes, clock })
    listeners.deliver({ kind: 'key', keyId: A, revoked: true })
    clock.advance(30 * 60_000)
    listeners.deliver({ kind: 'key', keyId: B, revoked: true })
    clock.advance(31 * 60_000 + 5000 - 1)
    expect(list.size).toBe(2)
    clock.advance(1)
    expect(list.size).toBe(1)
    expect(list.isRevoked(B, NOW_SEC)).toBe(true)
  })

  it('close() stops listening', () => {
    const { listeners, changes } = feed()
    const list = createRevocationList({ changes, clock: fakeClock() })
    list.close()
    expect(listeners.size).toBe(0)
    listeners.deliver({ kind: 'key', keyId: A, revoked: true })
    expect(list.isRevoked(A, NOW_SEC)).toBe(false)
  })

  it('refuses bad options, naming them', () => {
    const { changes } = feed()
    const cases: [unknown, string][] = [
      [{}, '"changes" must be a Keyward or a ChangeFeed (anything with subscribe(listener))'],
      [
        { changes, ttl: 1 },
        'unknown option "ttl" for createRevocationList: expected one of changes, clockSkewMs, clock',
      ],
      [
        { changes, clockSkewMs: 61_000 },
        '"clockSkewMs" must be a whole number of ms from 0 to 60000, got 61000',
      ],
    ]
    for (const [options, message] of cases)
      expect(() => createRevocationList(options as never)).toThrow(
        new KeywardError('invalid_options', message),
      )
  })
})
