import type { DenyCode } from '../core/errors.js'
import { toRetryAfterSeconds } from '../core/retry.js'
import type { VerifyDenial, VerifyOptions, VerifyResult, VerifySuccess } from '../core/keyward.js'
import type { FailedAuthCheck } from '../limits/failed-auth.js'
import { requestClientIp } from '../limits/client-ip.js'
import { rateLimitHeaders } from '../limits/headers.js'
import { AMBIGUOUS, extractCredential, isPreflight, type RequestView } from './credentials.js'
import { deprecationHeaders } from './deprecation.js'
import { type FailedAuthGate, failedAuthGate } from './failed-auth-gate.js'
import { idempotencyKeyOf, operationOf } from './idempotency.js'
import {
  type ApiKeyOptions,
  resolveApiKeyOptions,
  type ResolvedApiKeyOptions,
  usageTagOf,
} from './options.js'
import { createResponder, type DeniedResponse } from './responses.js'

/** A denied request: the verify denial and the response to send for it. */
export interface AuthDenied {
  readonly ok: false
  readonly code: DenyCode
  readonly denial: VerifyDenial
  readonly response: DeniedResponse
}

/** An admitted request: the verified key, and the headers to add to the response. */
export interface AuthSuccess extends VerifySuccess {
  /**
   * Headers for the response (lowercase names): `RateLimit-Policy` and `RateLimit` when the key
   * has limits, `Deprecation` and `Sunset` when the secret is an old one in its rotation grace
   * period. Adapters copy them onto the response. Absent when there are none.
   */
  readonly headers?: Readonly<Record<string, string>>
}

/** A CORS preflight let through unauthenticated (`preflight: 'pass'`). */
export interface AuthPreflight {
  readonly ok: true
  readonly key: null
  readonly preflight: true
  readonly headers?: undefined
}

/** Outcome of authenticating one HTTP request. */
export type AuthResult = AuthSuccess | AuthPreflight | AuthDenied

const PREFLIGHT: AuthPreflight = Object.freeze({ ok: true, key: null, preflight: true })
const AMBIGUOUS_DENIAL: VerifyDenial = Object.freeze({ ok: false, code: 'key_ambiguous' })
const TRUNCATED_DENIAL: VerifyDenial = Object.freeze({ ok: false, code: 'headers_truncated' })

/** Authenticates requests for one options set. Adapters create one per `requireApiKey()`. */
export interface Authenticator<Req> {
  readonly options: ResolvedApiKeyOptions<Req>
  /**
   * Runs the pipeline for one request: preflight policy, the header-count check, credential
   * extraction, the failed-auth limiter, the ambiguity check, `keyward.verifyCached` then
   * `keyward.verify`, and the mapping of the outcome to its response (headers for successes
   * too).
   * @param scopes overrides the options' scopes (per-route config)
   */
  authenticate(
    view: RequestView,
    req: Req,
    scopes?: readonly string[],
    routeTag?: string,
  ): Promise<AuthResult>
  /**
   * The same pipeline in callback form for adapters' hot paths: no promise of its own, and
   * `done` runs synchronously when no I/O is needed (preflight, ambiguous, a cached key without
   * limits, a malformed key). `fail` receives exceptions of `getCredential`, `cost`,
   * `onDenied`, `errorBody` or a custom verifier.
   * @param routeTag the route pattern the adapter matched, for usage analytics (the
   * `usageTag` option wins over it)
   */
  run(
    view: RequestView,
    req: Req,
    scopes: readonly string[],
    done: (result: AuthResult) => void,
    fail: (error: unknown) => void,
    routeTag?: string,
  ): void
}

/**
 * Resolves the options once and returns the framework-agnostic authenticator the adapters
 * share.
 *
 * @example
 * const auth = createAuthenticator({ keyward, scopes: ['orders:read'] })
 * const result = await auth.authenticate(nodeRequestView(req), req)
 * if (!result.ok) writeDenied(res, result.response)
 * @throws KeywardError `invalid_options`, `invalid_argument`
 */
export function createAuthenticator<Req>(input: ApiKeyOptions<Req>): Authenticator<Req> {
  const options = resolveApiKeyOptions(input)
  const respond = createResponder(options)
  const { keyward, getCredential, onDenied, clock, preflightPass, cost, trustedProxies } = options
  const { getClientIp, usageTag } = options
  /** The request's usage tag: the option's (fixed or computed), else the adapter's route. */
  const tagFor: (req: Req, routeTag: string | undefined) => string | undefined =
    usageTag === undefined
      ? (_req, routeTag) => routeTag
      : typeof usageTag === 'string'
        ? () => usageTag
        : (req) => usageTagOf(usageTag(req))
  const gate: FailedAuthGate | null =
    options.failedAuth === undefined ? null : failedAuthGate(options.failedAuth, clock)
  const verifyCached =
    typeof keyward.verifyCached === 'function' ? keyward.verifyCached.bind(keyward) : undefined

  function deny(denial: VerifyDenial, presented: boolean, req: Req): AuthDenied {
    const limited = denial.rateLimit
    const response = respond(
      denial,
      presented,
      limited === undefined ? undefined : rateLimitHeaders(limited),
    )
    if (onDenied !== undefined) {
      const event: Parameters<typeof onDenied>[0] = {
        code: denial.code,
        status: response.status,
        credentialPresented: presented,
        at: clock.now(),
      }
      if (denial.keyId !== undefined) event.keyId = denial.keyId
      if (denial.missingScopes !== undefined) event.missingScopes = denial.missingScopes
      if (denial.retryAfterSeconds !== undefined) event.retryAfterSeconds = denial.retryAfterSeconds
      if (denial.cause !== undefined) event.cause = denial.cause
      onDenied(event, req)
    }
    return { ok: false, code: denial.code, denial, response }
  }

  /** Maps a verify result to the request's outcome; counts a bad key against the client. */
  function outcome(
    result: VerifyResult,
    presented: boolean,
    ip: string | undefined,
    req: Req,
  ): AuthResult {
    if (result.ok) {
      const limited = result.rateLimit
      const deprecation = result.deprecation
      // keys without limits on their current secret: the frozen success from the cache, as it is
      if (deprecation === undefined) {
        if (limited === undefined) return result
        return { ok: true, key: result.key, rateLimit: limited, headers: rateLimitHeaders(limited) }
      }
      // an old secret in its grace period: rare, so a merged header object is fine here
      const headers =
        limited === undefined
          ? deprecationHeaders(deprecation)
          : { ...rateLimitHeaders(limited), ...deprecationHeaders(deprecation) }
      return limited === undefined
        ? { ok: true, key: result.key, deprecation, headers }
        : { ok: true, key: result.key, rateLimit: limited, deprecation, headers }
    }
    // only a wrong key (or a forged token) is a guess: missing, ambiguous or revoked keys and
    // expired tokens reveal nothing new
    if (gate !== null && (result.code === 'key_invalid' || result.code === 'token_invalid'))
      gate.record(ip)
    return deny(result, presented, req)
  }

  const { idempotencyMethods } = options
  // the credential's query parameter is no part of an operation
  const operationQueryParam = options.useQuery ? options.queryParam : null

  /**
   * Cost and Idempotency-Key matter only to keys with limits, but whether a key has limits is
   * known only after the lookup: both are read up front, and cost nothing when neither a cost
   * hook nor the header is there. The header counts only on the methods the `idempotency`
   * option names (POST and PATCH by default), bound to the request's operation.
   */
  function limitOptions(base: VerifyOptions, view: RequestView, req: Req): VerifyOptions {
    let idempotencyKey: string | undefined
    let operation: string | undefined
    if (idempotencyMethods?.has(view.method)) {
      idempotencyKey = idempotencyKeyOf(view)
      if (idempotencyKey !== undefined) operation = operationOf(view, operationQueryParam)
    }
    if (cost === undefined && operation === undefined) return base
    const full: VerifyOptions = { ...base }
    if (cost !== undefined) full.cost = cost(req)
    if (idempotencyKey !== undefined && operation !== undefined) {
      full.idempotencyKey = idempotencyKey
      full.operation = operation
    }
    return full
  }

  function verify(
    credential: string | null | typeof AMBIGUOUS,
    ip: string | undefined,
    view: RequestView,
    req: Req,
    scopes: readonly string[],
    done: (result: AuthResult) => void,
    fail: (error: unknown) => void,
    tag: string | undefined,
  ): void {
    if (credential === AMBIGUOUS) {
      done(deny(AMBIGUOUS_DENIAL, true, req))
      return
    }
    const presented = credential !== null
    const base: VerifyOptions =
      tag === undefined
        ? ip === undefined
          ? { scopes }
          : { scopes, ip }
        : ip === undefined
          ? { scopes, usageTag: tag }
          : { scopes, ip, usageTag: tag }
    let full: VerifyOptions
    try {
      full = limitOptions(base, view, req)
    } catch (error) {
      fail(error)
      return
    }
    // the hot path: a cached key (without limits, or with an in-process limiter) is decided
    // here, without a promise
    const cached = verifyCached?.(credential, full)
    if (cached !== undefined) {
      let result: AuthResult
      try {
        result = outcome(cached, presented, ip, req)
      } catch (error) {
        fail(error)
        return
      }
      done(result)
      return
    }
    keyward.verify(credential, full).then((result) => {
      // the callbacks run inside then(): their exceptions must reach fail, not vanish
      try {
        done(outcome(result, presented, ip, req))
      } catch (error) {
        fail(error)
      }
    }, fail)
  }

  /** Failed-auth gate, then verification; a blocked client is answered without a lookup. */
  function admit(
    credential: string | null | typeof AMBIGUOUS,
    view: RequestView,
    req: Req,
    scopes: readonly string[],
    done: (result: AuthResult) => void,
    fail: (error: unknown) => void,
    tag: string | undefined,
  ): void {
    let ip: string | undefined
    try {
      ip = requestClientIp(view, req, getClientIp, trustedProxies)
    } catch (error) {
      fail(error)
      return
    }
    const pending = gate?.check(ip)
    if (pending === undefined) {
      verify(credential, ip, view, req, scopes, done, fail, tag)
      return
    }
    const onCheck = (status: FailedAuthCheck) => {
      if (!status.blocked) {
        verify(credential, ip, view, req, scopes, done, fail, tag)
        return
      }
      let result: AuthDenied
      try {
        result = deny(blockedDenial(status), credential !== null, req)
      } catch (error) {
        fail(error)
        return
      }
      done(result)
    }
    // a failing failed-auth limiter must not lock everyone out: the key's own checks still run
    pending
      .then(onCheck, () => verify(credential, ip, view, req, scopes, done, fail, tag))
      .catch(fail)
  }

  function run(
    view: RequestView,
    req: Req,
    scopes: readonly string[],
    done: (result: AuthResult) => void,
    fail: (error: unknown) => void,
    routeTag?: string,
  ): void {
    if (preflightPass && isPreflight(view)) {
      done(PREFLIGHT)
      return
    }
    // a second credential may be among the lines the server dropped: nothing is read at all
    if (view.headersTruncated === true) {
      done(deny(TRUNCATED_DENIAL, false, req))
      return
    }
    let tag: string | undefined
    try {
      tag = tagFor(req, routeTag)
    } catch (error) {
      fail(error)
      return
    }
    if (getCredential === undefined) {
      admit(extractCredential(options, view), view, req, scopes, done, fail, tag)
      return
    }
    let custom: ReturnType<typeof getCredential>
    try {
      custom = getCredential(req)
    } catch (error) {
      fail(error)
      return
    }
    // a synchronous getter costs no promise: the service's session lookup is one on every call
    if (typeof (custom as PromiseLike<unknown> | null | undefined)?.then !== 'function') {
      const credential = (custom as string | null | undefined) ?? extractCredential(options, view)
      admit(credential, view, req, scopes, done, fail, tag)
      return
    }
    Promise.resolve(custom)
      .then((found) => {
        const credential = found ?? extractCredential(options, view)
        admit(credential, view, req, scopes, done, fail, tag)
      })
      .catch(fail)
  }

  function authenticate(
    view: RequestView,
    req: Req,
    scopes: readonly string[] = options.scopes,
    routeTag?: string,
  ): Promise<AuthResult> {
    return new Promise((resolve, reject) => {
      try {
        run(view, req, scopes, resolve, reject, routeTag)
      } catch (error) {
        reject(error)
      }
    })
  }

  return { options, authenticate, run }
}

/** The 429 for a client blocked by the failed-auth limiter (no key is known or charged). */
function blockedDenial(status: FailedAuthCheck): VerifyDenial {
  return {
    ok: false,
    code: 'rate_limited',
    retryAfterSeconds: toRetryAfterSeconds(status.retryAfterMs ?? 1000),
  }
}
