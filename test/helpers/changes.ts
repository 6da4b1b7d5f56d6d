import { expect } from 'vitest'
import type { Change, ChangeFeed, ChangeListener } from '../../src/core/changes.js'

/** A listener that records what a feed tells it, in order. */
export function recorder() {
  const heard: (Change | 'reset')[] = []
  const errors: unknown[] = []
  const listener: ChangeListener = {
    change: (c) => heard.push(c),
    reset: () => heard.push('reset'),
    error: (e) => errors.push(e),
  }
  return {
    heard,
    errors,
    listener,
    /** What was heard apart from resets. */
    changes: () => heard.filter((h) => h !== 'reset'),
    resets: () => heard.filter((h) => h === 'reset').length,
  }
}

/** Resolves once `condition()` holds, checking every few ms; rejects after `timeoutMs`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`waited ${timeoutMs} ms for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * What every change feed does, checked on real channels: `a` and `b` (one channel) hear each
 * other's changes in order and never their own; `other` (another channel) hears neither. Each
 * says "reset" once it listens, before which nothing could be heard.
 */
export async function expectFeedsHearEachOther(
  a: ChangeFeed,
  b: ChangeFeed,
  other: ChangeFeed,
): Promise<void> {
  const KEY = 'key_0123456789abcdef'
  const [ra, rb, rOther] = [recorder(), recorder(), recorder()]
  a.subscribe(ra.listener)
  b.subscribe(rb.listener)
  other.subscribe(rOther.listener)
  await until(() => ra.resets() + rb.resets() + rOther.resets() === 3, 'all three to listen')
  await a.publish({ kind: 'key', keyId: KEY })
  await a.publish({ kind: 'key', keyId: KEY, revoked: true })
  await a.publish({ kind: 'roles' })
  await until(() => rb.changes().length === 3, 'b to hear all three')
  // a revocation arrives as one, for token revocation lists
  expect(rb.changes()).toEqual([
    { kind: 'key', keyId: KEY },
    { kind: 'key', keyId: KEY, revoked: true },
    { kind: 'roles' },
  ])
  await b.publish({ kind: 'roles' })
  await until(() => ra.changes().length === 1, 'a to hear b')
  expect(ra.changes()).toEqual([{ kind: 'roles' }])
  await other.publish({ kind: 'roles' })
  // one more round trip on the shared channel, so that anything crossing over had time to
  await a.publish({ kind: 'key', keyId: KEY })
  await until(() => rb.changes().length === 4, 'b to hear the last one')
  expect(rOther.changes()).toEqual([])
  expect(ra.changes()).toHaveLength(1)
  expect(rb.changes()).toHaveLength(4)
  expect([ra.resets(), rb.resets(), rOther.resets()]).toEqual([1, 1, 1])
}
