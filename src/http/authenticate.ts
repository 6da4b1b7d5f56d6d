import type { DenyCode } from '../core/errors.js'
import type { VerifyDenial, VerifySuccess } from '../core/keyward.js'
import { AMBIGUOUS, extractCredential, isPreflight, type RequestView } from './credentials.js'
import { type ApiKeyOptions, resolveApiKeyOptions, type ResolvedApiKeyOptions } from './options.js'
import { createResponder, type DeniedResponse } from './responses.js'

/** A denied request: the verify denial and the response to send for it. */
export interface AuthDenied {
  readonly ok: false
  readonly code: DenyCode
  readonly denial: VerifyDenial
  readonly response: DeniedResponse
}

/** A CORS preflight let through unauthenticated (`preflight: 'pass'`). */
export interface AuthPreflight {
  readonly ok: true
  readonly key: null
  readonly preflight: true
}

/** Outcome of authenticating one HTTP request. */
export type AuthResult = VerifySuccess | AuthPreflight | AuthDenied

const PREFLIGHT: AuthPreflight = Object.freeze({ ok: true, key: null, preflight: true })
const AMBIGUOUS_DENIAL: VerifyDenial = Object.freeze({ ok: false, code: 'key_ambiguous' })

/** Authenticates requests for one options set. Adapters create one per `requireApiKey()`. */
export interface Authenticator<Req> {
  readonly options: ResolvedApiKeyOptions<Req>
  /**
   * Runs the pipeline for one request: preflight policy, credential extraction and ambiguity
   * check, `keyward.verify`, and the mapping of a denial to its response.
   * @param scopes overrides the options' scopes (per-route config)
   */
  authenticate(view: RequestView, req: Req, scopes?: readonly string[]): Promise<AuthResult>
  /**
   * The same pipeline in callback form for adapters' hot paths: no promise of its own, and
   * `done` runs synchronously when no I/O is needed (preflight, ambiguous). `fail` receives
   * exceptions of `getCredential`, `onDenied` or a custom verifier.
   */
  run(
    view: RequestView,
    req: Req,
    scopes: readonly string[],
    done: (result: AuthResult) => void,
    fail: (error: unknown) => void,
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
  const { keyward, getCredential, onDenied, clock, preflightPass } = options

  function deny(denial: VerifyDenial, presented: boolean, req: Req): AuthDenied {
    const response = respond(denial, presented)
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

  function verify(
    credential: string | null | typeof AMBIGUOUS,
    view: RequestView,
    req: Req,
    scopes: readonly string[],
    done: (result: AuthResult) => void,
    fail: (error: unknown) => void,
  ): void {
    if (credential === AMBIGUOUS) {
      done(deny(AMBIGUOUS_DENIAL, true, req))
      return
    }
    const ip = view.ip
    keyward.verify(credential, ip === undefined ? { scopes } : { scopes, ip }).then((result) => {
      // the callbacks run inside then(): their exceptions must reach fail, not vanish
      try {
        done(result.ok ? result : deny(result, credential !== null, req))
      } catch (error) {
        fail(error)
      }
    }, fail)
  }

  function run(
    view: RequestView,
    req: Req,
    scopes: readonly string[],
    done: (result: AuthResult) => void,
    fail: (error: unknown) => void,
  ): void {
    if (preflightPass && isPreflight(view)) {
      done(PREFLIGHT)
      return
    }
    if (getCredential === undefined) {
      verify(extractCredential(options, view), view, req, scopes, done, fail)
      return
    }
    Promise.resolve()
      .then(() => getCredential(req))
      .then((custom) => {
        const credential = custom ?? extractCredential(options, view)
        verify(credential, view, req, scopes, done, fail)
      })
      .catch(fail)
  }

  function authenticate(
    view: RequestView,
    req: Req,
    scopes: readonly string[] = options.scopes,
  ): Promise<AuthResult> {
    return new Promise((resolve, reject) => {
      try {
        run(view, req, scopes, resolve, reject)
      } catch (error) {
        reject(error)
      }
    })
  }

  return { options, authenticate, run }
}
