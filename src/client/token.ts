import { KeywardError } from '../core/errors.js'
import type { ResolvedClientOptions, ResolvedTokenOptions } from './options.js'
import type { PreparedRequest } from './request.js'
import { send } from './send.js'
import { waitFor } from './wait.js'

// Token mode: the key is traded for short-lived access tokens at an OAuth 2.0 token endpoint
// (client credentials, RFC 6749 §4.4); one token is cached and replaced shortly before it
// expires, by one request at a time however many calls need it.

/**
 * The token endpoint refused the key or answered something unusable. `oauthError` is the
 * RFC 6749 §5.2 `error` (`invalid_client`, `invalid_scope`, …) when it sent one.
 */
export class TokenRequestError extends KeywardError {
  /** HTTP status of the token endpoint's answer. */
  readonly status: number
  /** RFC 6749 §5.2 error code, when the answer had one. */
  readonly oauthError: string | undefined
  constructor(message: string, status: number, oauthError: string | undefined) {
    super('token_request_failed', message)
    this.name = 'TokenRequestError'
    this.status = status
    this.oauthError = oauthError
  }
}

interface CachedToken {
  value: string
  /** Epoch ms after which it is never sent. */
  expiresAt: number
  /** Epoch ms from which a call starts a replacement (and still uses this one meanwhile). */
  refreshAt: number
}

/** `expires_in` is only RECOMMENDED (RFC 6749 §5.1): without it, a token is kept this long. */
const DEFAULT_LIFETIME_MS = 60_000
const MAX_REFRESH_BEFORE_MS = 30_000
// RFC 6750 §2.1 b64token: what may follow "Bearer " in a header
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const HINTS: Record<string, string> = {
  invalid_client: 'check the API key: it is wrong, revoked or expired',
  invalid_scope: 'ask only for scopes the key has ("token.scope")',
  invalid_target: 'ask for a registered audience ("token.audience" / "token.resource")',
  unsupported_grant_type: 'the endpoint does not offer client credentials',
  invalid_request: 'the endpoint did not understand the request',
}

/** The cached token of one client, and the one refresh in flight. */
export class TokenSource {
  readonly #options: ResolvedClientOptions
  readonly #token: ResolvedTokenOptions
  readonly #keyOf: () => Promise<string>
  #cached: CachedToken | null = null
  #pending: Promise<CachedToken> | null = null

  constructor(
    options: ResolvedClientOptions,
    token: ResolvedTokenOptions,
    keyOf: () => Promise<string>,
  ) {
    this.#options = options
    this.#token = token
    this.#keyOf = keyOf
  }

  /**
   * A token to send now. A valid one is returned at once (starting its replacement in the
   * background once `refreshAt` has passed); otherwise the call waits for the refresh that
   * is in flight, or starts it.
   *
   * @throws TokenRequestError, or KeywardError `timeout`/`network`, or the caller's abort reason
   */
  async get(signal: AbortSignal | null, deadlineAt: number): Promise<string> {
    const now = Date.now()
    const cached = this.#cached
    if (cached !== null && now < cached.expiresAt) {
      if (now >= cached.refreshAt && this.#pending === null) {
        this.#refresh().catch(() => {
          // the current token still works: try again after half of its remaining life
          const at = Date.now()
          cached.refreshAt = at + (cached.expiresAt - at) / 2
        })
      }
      return cached.value
    }
    const fresh = await waitFor(
      this.#pending ?? this.#refresh(),
      signal,
      deadlineAt - now,
      () =>
        new KeywardError(
          'timeout',
          `no access token from ${this.#label()} within "deadlineMs" (${this.#options.deadlineMs} ms)`,
        ),
    )
    return fresh.value
  }

  /** A 401 answered `value`: stop using it (unless it was already replaced). */
  invalidate(value: string): void {
    if (this.#cached?.value === value) this.#cached = null
  }

  #label(): string {
    return this.#token.url.origin + this.#token.url.pathname
  }

  #refresh(): Promise<CachedToken> {
    const pending = this.#request().then(
      (token) => {
        this.#cached = token
        this.#pending = null
        return token
      },
      (error: unknown) => {
        this.#pending = null
        throw error
      },
    )
    this.#pending = pending
    return pending
  }

  async #request(): Promise<CachedToken> {
    const { url, scope, audience, resource, clientId } = this.#token
    const key = await this.#keyOf()
    const form = new URLSearchParams({ grant_type: 'client_credentials' })
    if (scope !== null) form.set('scope', scope)
    if (audience !== null) form.set('audience', audience)
    if (resource !== null) form.set('resource', resource)
    const body = form.toString()
    const headers = new Headers({
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    })
    if (clientId === null) headers.set('x-api-key', key)
    else headers.set('authorization', `Basic ${btoa(`${formEncode(clientId)}:${formEncode(key)}`)}`)
    const request: PreparedRequest = {
      method: 'POST',
      url,
      label: this.#label(),
      // a client-credentials grant changes nothing: asking again is safe
      isReplayable: true,
      isRetryable: true,
      // not one caller's: a caller that gives up leaves the refresh to the others
      signal: null,
      headers,
      attempt: (attemptHeaders, signal) => [
        url.href,
        { method: 'POST', headers: attemptHeaders, body, signal, redirect: 'manual' },
      ],
    }
    const startedAt = Date.now()
    const response = await send(request, {
      options: this.#options,
      target: 'token',
      deadlineAt: startedAt + this.#options.deadlineMs,
    })
    return this.#read(response, startedAt, key)
  }

  async #read(response: Response, startedAt: number, key: string): Promise<CachedToken> {
    const { status } = response
    let json: unknown
    try {
      json = JSON.parse(await response.text())
    } catch {
      json = undefined
    }
    const fields =
      typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {}
    const from = `token endpoint ${this.#label()}`
    if (status !== 200) {
      const error = typeof fields.error === 'string' ? printable(fields.error, key) : undefined
      if (error === undefined) {
        throw new TokenRequestError(
          `${from} answered ${status} without an OAuth error`,
          status,
          undefined,
        )
      }
      const description =
        typeof fields.error_description === 'string'
          ? `: ${printable(fields.error_description, key)}`
          : ''
      const hint = HINTS[error] === undefined ? '' : ` (${HINTS[error]})`
      throw new TokenRequestError(
        `${from} answered ${status} ${error}${description}${hint}`,
        status,
        error,
      )
    }
    const value = fields.access_token
    if (typeof value !== 'string' || !B64TOKEN.test(value)) {
      throw new TokenRequestError(
        `${from} answered 200 without a usable "access_token"`,
        status,
        undefined,
      )
    }
    const type = fields.token_type
    if (typeof type !== 'string' || type.toLowerCase() !== 'bearer') {
      throw new TokenRequestError(
        `${from} answered a "token_type" of ${typeof type === 'string' ? printable(type, key) : 'none'}; only Bearer is supported`,
        status,
        undefined,
      )
    }
    const expiresIn =
      typeof fields.expires_in === 'string' ? Number(fields.expires_in) : fields.expires_in
    if (
      expiresIn !== undefined &&
      (typeof expiresIn !== 'number' || !(expiresIn > 0) || !Number.isFinite(expiresIn))
    ) {
      throw new TokenRequestError(
        `${from} answered an "expires_in" that is not a positive number`,
        status,
        undefined,
      )
    }
    const lifetimeMs = expiresIn === undefined ? DEFAULT_LIFETIME_MS : expiresIn * 1000
    const refreshBeforeMs = Math.min(
      this.#token.refreshBeforeMs ?? Math.min(MAX_REFRESH_BEFORE_MS, lifetimeMs / 10),
      lifetimeMs / 2,
    )
    // counted from before the request was sent, so the token is dropped before the server's expiry
    return {
      value,
      expiresAt: startedAt + lifetimeMs,
      refreshAt: startedAt + lifetimeMs - refreshBeforeMs,
    }
  }
}

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 asks for Basic credentials. */
function formEncode(text: string): string {
  return encodeURIComponent(text).replace(/%20/g, '+')
}

/** Server text fit for a message: one short line, and never the key (a server may echo it). */
function printable(text: string, key: string): string {
  const line = text
    .split(key)
    .join('[key]')
    .replace(/[\x00-\x1f\x7f]+/g, ' ')
  return line.length > 200 ? `${line.slice(0, 200)}…` : line
}
