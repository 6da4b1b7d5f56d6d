// Waiting that a caller's AbortSignal cuts short, with Web timers only (no node:timers).

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal | null): Promise<void> {
  return waitFor(new Promise<void>(() => {}), signal, ms, () => undefined)
}

/**
 * `promise`, or the signal's reason as soon as it aborts, or `onTimeout()` after `ms`: a
 * caller that stops waiting for a shared promise (the token refresh) leaves it running for
 * the others.
 */
export function waitFor<T>(
  promise: Promise<T>,
  signal: AbortSignal | null,
  ms: number,
  onTimeout: () => T | Error,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    const onAbort = () => {
      done()
      reject(signal!.reason)
    }
    const timer = setTimeout(
      () => {
        done()
        const outcome = onTimeout()
        if (outcome instanceof Error) reject(outcome)
        else resolve(outcome)
      },
      Math.max(0, ms),
    )
    signal?.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        done()
        resolve(value)
      },
      (error: unknown) => {
        done()
        reject(error)
      },
    )
  })
}
