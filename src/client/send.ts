import { KeywardError } from '../core/errors.js'
import { backoffDelayMs, retryAfterMs } from './backoff.js'
import type { ResolvedClientOptions, RetryEvent } from './options.js'
import type { PreparedRequest } from './request.js'
import { sleep } from './wait.js'

// The attempt loop shared by API calls and token requests: a timeout per attempt, the
// caller's abort, the retry rule, and one retry after a 401 to a token that was replaced.

/** What one call needs besides its request. */
export interface SendContext {
  options: ResolvedClientOptions
  target: RetryEvent['target']
  /** Epoch ms after which no attempt starts and no wait is begun. */
  deadlineAt: number
  /** Adds the credential to an attempt's headers; returns the token used, if any. */
  authorize?: (headers: Headers) => Promise<string | null>
  /** A 401 answered a request carrying `token`: drop it so the next attempt gets a new one. */
  onUnauthorized?: (token: string) => void
}

/** Why an attempt got no response. */
interface Failure {
  code: 'timeout' | 'network'
  detail: string
  cause: unknown
}

// tagged rather than told apart by `instanceof Response`: a custom fetch may bring its own class
type Outcome =
  | { response: Response; failure?: undefined }
  | { response?: undefined; failure: Failure }

/**
 * Sends `request`, again after a 429/503 (or a network error or timeout) when it is
 * retryable, waiting what `Retry-After` asks or a jittered backoff. The last response is
 * returned whatever its status; a call that never got one throws.
 *
 * @throws KeywardError `timeout` or `network`; the caller's abort reason when it aborts
 */
export async function send(request: PreparedRequest, context: SendContext): Promise<Response> {
  const { retry, onRetry } = context.options
  const what = context.target === 'token' ? 'token request to' : 'request to'
  let retriesUsed = 0
  let hasRefreshedToken = false
  for (let attempt = 1; ; attempt++) {
    const headers = new Headers(request.headers)
    const token = context.authorize === undefined ? null : await context.authorize(headers)
    const remainingMs = context.deadlineAt - Date.now()
    if (remainingMs <= 0) {
      throw new KeywardError(
        'timeout',
        `${what} ${request.label} did not complete within "deadlineMs" (${context.options.deadlineMs} ms), after ${attempt - 1} attempt(s)`,
      )
    }
    const { response, failure } = await attemptOnce(
      request,
      headers,
      context,
      Math.min(context.options.timeoutMs, remainingMs),
    )
    const event = (reason: RetryEvent['reason'], delayMs: number): RetryEvent => ({
      target: context.target,
      method: request.method,
      url: request.label,
      attempt,
      reason,
      ...(failure === undefined ? { status: response.status } : { code: failure.code }),
      delayMs,
    })

    if (failure === undefined) {
      if (
        response.status === 401 &&
        token !== null &&
        context.onUnauthorized !== undefined &&
        !hasRefreshedToken &&
        request.isReplayable
      ) {
        // the token may have been revoked or expired early: one new token, one retry, no wait
        hasRefreshedToken = true
        context.onUnauthorized(token)
        await discard(response)
        onRetry?.(event('unauthorized', 0))
        continue
      }
      const delayMs = retryDelayMs(request, response, retriesUsed, context)
      if (delayMs === undefined) return response
      await discard(response)
      onRetry?.(event('status', delayMs))
      await sleep(delayMs, request.signal)
    } else {
      const delayMs = backoffDelayMs(retriesUsed, retry.baseDelayMs, retry.maxDelayMs)
      if (
        !request.isRetryable ||
        retriesUsed >= retry.retries ||
        Date.now() + delayMs >= context.deadlineAt
      ) {
        const attempts = attempt === 1 ? '' : ` (after ${attempt} attempts)`
        const message = `${what} ${request.label} ${failure.detail}${attempts}`
        throw new KeywardError(failure.code, message, { cause: failure.cause })
      }
      onRetry?.(event(failure.code, delayMs))
      await sleep(delayMs, request.signal)
    }
    retriesUsed++
  }
}

/**
 * The wait before sending `request` again after `response`, or `undefined` to return the
 * response: its status is not retried, the request may not be repeated, the retries are
 * spent, `Retry-After` asks more than `maxDelayMs` (waiting less would only be refused
 * again), or the wait would end past the deadline.
 */
function retryDelayMs(
  request: PreparedRequest,
  response: Response,
  retriesUsed: number,
  context: SendContext,
): number | undefined {
  const { retry } = context.options
  if (!request.isRetryable || !retry.retryOn.has(response.status) || retriesUsed >= retry.retries) {
    return undefined
  }
  const askedMs = retryAfterMs(response.headers.get('retry-after'), Date.now())
  if (askedMs !== undefined && askedMs > retry.maxDelayMs) return undefined
  const delayMs = askedMs ?? backoffDelayMs(retriesUsed, retry.baseDelayMs, retry.maxDelayMs)
  return Date.now() + delayMs >= context.deadlineAt ? undefined : delayMs
}

/**
 * One attempt: the response (its headers arrived in time), or why there was none. The
 * caller's abort rejects with the caller's reason, as `fetch` would.
 */
async function attemptOnce(
  request: PreparedRequest,
  headers: Headers,
  context: SendContext,
  timeoutMs: number,
): Promise<Outcome> {
  const caller = request.signal
  if (caller?.aborted) throw caller.reason
  const controller = new AbortController()
  const signal = caller === null ? controller.signal : followBoth(caller, controller)
  let hasTimedOut = false
  const timer = setTimeout(() => {
    hasTimedOut = true
    controller.abort()
  }, timeoutMs)
  const fetchImpl = context.options.fetch
  try {
    const [input, init] = request.attempt(headers, signal)
    return { response: await fetchImpl(input, init) }
  } catch (error) {
    if (caller?.aborted) throw caller.reason
    if (hasTimedOut) {
      const limit =
        timeoutMs < context.options.timeoutMs
          ? `the rest of "deadlineMs" (${context.options.deadlineMs} ms)`
          : `"timeoutMs" (${timeoutMs} ms)`
      return {
        failure: { code: 'timeout', detail: `got no response within ${limit}`, cause: error },
      }
    }
    return { failure: { code: 'network', detail: `failed: ${networkDetail(error)}`, cause: error } }
  } finally {
    // the timeout bounds the wait for headers; reading the body is the caller's business
    clearTimeout(timer)
  }
}

/**
 * A signal that aborts with the caller's (whose reason it keeps) or with the attempt's
 * timeout. It stays linked after the response arrives, so the caller's abort also stops the
 * body. `AbortSignal.any` holds its sources weakly; the fallback (runtimes without it) adds a
 * listener to the caller's signal that lives as long as that signal.
 */
function followBoth(caller: AbortSignal, controller: AbortController): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([caller, controller.signal])
  caller.addEventListener('abort', () => controller.abort(caller.reason), { once: true })
  return controller.signal
}

/** Undici says "fetch failed" and puts the reason (ECONNREFUSED…) in `cause`. */
function networkDetail(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined
  const source = cause instanceof Error ? cause : error
  return source instanceof Error ? source.message : String(source)
}

/** Frees the connection of a response that is not handed to the caller. */
async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel()
  } catch {
    // already consumed or errored: nothing to free
  }
}
