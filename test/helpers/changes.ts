import type { Change, ChangeListener } from '../../src/core/changes.js'

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
