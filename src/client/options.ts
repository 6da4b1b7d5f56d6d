import { KeywardError } from '../core/errors.js'
import { rejectUnknownOptions } from '../core/options.js'

// The options of `createClient`, checked once. Nothing here runs per request, and nothing in
// src/client imports a `node:` module: the client runs wherever `fetch` does.

/** A `fetch` implementation: the global one, undici's, a test double… */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** The API key, or a function returning the current one (for rotation without a new client). */
export type ApiKeySource = string | (() => string | Promise<string>)

/** Token mode: trade the key for short-lived access tokens (OAuth 2.0 client credentials). */
export interface TokenOptions {
  /** The token endpoint, e.g. `https://keyward.internal/oauth/token`; relative to `baseUrl` when it has no origin. */
  url: string
  /** Scopes to ask for (fewer than the key has). Default: the key's own. */
  scope?: string | readonly string[]
  /** `audience` to ask for (a registered audience). */
  audience?: string
  /** RFC 8707 `resource` to ask for. */
  resource?: string
  /**
   * How long before expiry a token is replaced. Default 10 % of its lifetime, at most 30 s
   * (never more than half of it).
   */
  refreshBeforeMs?: number
  /**
   * The key's id (`key_…`). With it the key is sent as the OAuth client secret by HTTP Basic
   * auth (`client_id:key`, RFC 6749 §2.3.1) instead of in `X-API-Key`.
   */
  clientId?: string
}

/** When and how a call that got 429/503 (or no response) is sent again. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  retries?: number
  /** Backoff base: the n-th retry waits a random time up to `baseDelayMs * 2^n`. Default 200. */
  baseDelayMs?: number
  /**
   * Longest single wait, backoff or `Retry-After`. A `Retry-After` longer than this is not
   * waited for: the response is returned. Default 10 000.
   */
  maxDelayMs?: number
  /** Statuses that are retried. Default `[429, 503]`. */
  retryOn?: readonly number[]
}

/** What `onRetry` receives. Never the key, the token, or a URL's query. */
export interface RetryEvent {
  /** `api` for the call itself, `token` for a token request. */
  target: 'api' | 'token'
  method: string
  /** Origin and path of the request (no query). */
  url: string
  /** The attempt that failed, from 1. */
  attempt: number
  /** `unauthorized`: a 401 to a token, which was replaced before the retry. */
  reason: 'status' | 'network' | 'timeout' | 'unauthorized'
  /** The status of the failed attempt, when it got a response. */
  status?: number
  /** The error code of the failed attempt (`network`, `timeout`), when it got none. */
  code?: 'network' | 'timeout'
  /** Wait before the next attempt. */
  delayMs: number
}

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** The API key (or a function returning it). Sent in `X-API-Key`, or traded for tokens. */
  apiKey: ApiKeySource
  /** Prefix of relative request URLs; absolute URLs must then be on the same origin. */
  baseUrl?: string
  /** Present: token mode (`Authorization: Bearer <token>`). Absent: key mode (`X-API-Key`). */
  token?: TokenOptions
  /** Retry policy, or `false` for a single attempt. */
  retry?: RetryOptions | false
  /** Longest wait for a response's headers, per attempt. Default 10 000 ms. */
  timeoutMs?: number
  /** Longest wait for the whole call: attempts, waits between them, the token. Default 30 000 ms. */
  deadlineMs?: number
  /**
   * `auto`: POST and PATCH without an `Idempotency-Key` get one (`crypto.randomUUID()`), which
   * makes them retryable; only right when the receiving service deduplicates by that header.
   * Default `off`.
   */
  idempotency?: 'auto' | 'off'
  /** The `fetch` to call. Default `globalThis.fetch`. */
  fetch?: FetchFunction
  /** Called before each retry (for logs and metrics). */
  onRetry?: (event: RetryEvent) => void
  /** Allow plain `http://` to hosts other than loopback (the key would cross the network in clear). */
  allowInsecureHttp?: boolean
}

/** Options after defaults and checks. */
export interface ResolvedClientOptions {
  apiKey: ApiKeySource
  /** Without trailing slash. */
  baseUrl: URL | null
  token: ResolvedTokenOptions | null
  retry: Required<Omit<RetryOptions, 'retryOn'>> & { retryOn: ReadonlySet<number> }
  timeoutMs: number
  deadlineMs: number
  idempotency: 'auto' | 'off'
  fetch: FetchFunction
  onRetry: ((event: RetryEvent) => void) | null
  allowInsecureHttp: boolean
}

export interface ResolvedTokenOptions {
  url: URL
  scope: string | null
  audience: string | null
  resource: string | null
  refreshBeforeMs: number | null
  clientId: string | null
}

const CLIENT_OPTIONS = new Set([
  'apiKey',
  'baseUrl',
  'token',
  'retry',
  'timeoutMs',
  'deadlineMs',
  'idempotency',
  'fetch',
  'onRetry',
  'allowInsecureHttp',
])
const TOKEN_OPTIONS = new Set([
  'url',
  'scope',
  'audience',
  'resource',
  'refreshBeforeMs',
  'clientId',
])
const RETRY_OPTIONS = new Set(['retries', 'baseDelayMs', 'maxDelayMs', 'retryOn'])
const FACTORY = 'createClient'

/** Visible ASCII: what a header value may carry without fetch echoing it in a TypeError. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/
// RFC 6749 scope-token: visible ASCII without `"` and `\`
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

function invalid(message: string): KeywardError {
  return new KeywardError('invalid_options', message)
}

/** A description of a bad value that never repeats it (it may be the key). */
function described(value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} characters`
  if (value === null) return 'null'
  return Array.isArray(value) ? 'an array' : typeof value
}

/**
 * Checks an API key before it goes into a header: a bad one would otherwise make `fetch`
 * throw a TypeError quoting it.
 */
export function assertValidApiKey(key: unknown, from: string): asserts key is string {
  if (typeof key !== 'string' || !VISIBLE_ASCII.test(key)) {
    throw invalid(
      `${from} must be a non-empty string of visible ASCII characters (no spaces), got ${described(key)}`,
    )
  }
}

function positiveMs(value: unknown, name: string, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    (value === 0 && !allowZero)
  ) {
    throw invalid(
      `"${name}" must be a ${allowZero ? 'non-negative' : 'positive'} integer of milliseconds, got ${String(value)}`,
    )
  }
  return value
}

function optionalString(value: unknown, name: string): string | null {
  if (value === undefined) return null
  if (typeof value !== 'string' || value.length === 0 || !VISIBLE_ASCII.test(value)) {
    throw invalid(`"${name}" must be a non-empty string without spaces, got ${described(value)}`)
  }
  return value
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

/**
 * Why a URL must not carry a key, or `null` when it may: not http(s), a user name or
 * password in it, or plain http to a host other than loopback (unless `allowInsecureHttp`).
 */
export function unsafeUrlReason(url: URL, allowInsecureHttp: boolean): string | null {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return `must be an http(s) URL, got the scheme ${url.protocol}`
  }
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password'
  if (url.protocol === 'http:' && !allowInsecureHttp && !LOOPBACK.test(url.hostname)) {
    return `is plain http to ${url.host}: the key would cross the network unencrypted; use https, or set "allowInsecureHttp: true" for a trusted network`
  }
  return null
}

function assertSafeUrl(url: URL, name: string, allowInsecureHttp: boolean): void {
  const reason = unsafeUrlReason(url, allowInsecureHttp)
  if (reason !== null) throw invalid(`"${name}" ${reason}`)
}

function parseUrl(value: unknown, name: string, base: URL | null): URL {
  if (typeof value !== 'string' || value === '') {
    throw invalid(`"${name}" must be a URL string, got ${described(value)}`)
  }
  try {
    return base === null ? new URL(value) : new URL(joinPath(base, value))
  } catch {
    throw invalid(
      base === null
        ? `"${name}" must be an absolute URL (https://host/path)`
        : `"${name}" is not a valid URL, or a path relative to "baseUrl"`,
    )
  }
}

/**
 * `base` + a path: `https://api/v1` with `/orders` is `https://api/v1/orders` (plain URL
 * resolution would drop `/v1`). An absolute `path` stays as it is.
 */
export function joinPath(base: URL, path: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) return path
  const prefix = base.href.endsWith('/') ? base.href.slice(0, -1) : base.href
  return path.startsWith('/') || path.startsWith('?') ? prefix + path : `${prefix}/${path}`
}

function resolveScope(value: unknown): string | null {
  if (value === undefined) return null
  const list = typeof value === 'string' ? value.split(' ').filter((s) => s !== '') : value
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid(
      `"token.scope" must be a non-empty string or array of scopes, got ${described(value)}`,
    )
  }
  for (const scope of list) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      throw invalid(
        `"token.scope" entries must be scope names without spaces or quotes, got ${described(scope)}`,
      )
    }
  }
  return list.join(' ')
}

function resolveToken(
  value: unknown,
  baseUrl: URL | null,
  allowInsecureHttp: boolean,
): ResolvedTokenOptions | null {
  if (value === undefined) return null
  if (typeof value !== 'object' || value === null) {
    throw invalid(
      `"token" must be an object ({ url, scope?, audience?, … }), got ${described(value)}`,
    )
  }
  rejectUnknownOptions(value, TOKEN_OPTIONS, FACTORY, 'token.')
  const t = value as Record<string, unknown>
  const url = parseUrl(t.url, 'token.url', baseUrl)
  assertSafeUrl(url, 'token.url', allowInsecureHttp)
  if (url.search !== '') throw invalid('"token.url" must not have a query string')
  return {
    url,
    scope: resolveScope(t.scope),
    audience: optionalString(t.audience, 'token.audience'),
    resource: optionalString(t.resource, 'token.resource'),
    refreshBeforeMs:
      t.refreshBeforeMs === undefined
        ? null
        : positiveMs(t.refreshBeforeMs, 'token.refreshBeforeMs', 0, true),
    clientId: optionalString(t.clientId, 'token.clientId'),
  }
}

function resolveRetry(value: unknown): ResolvedClientOptions['retry'] {
  if (value === false) {
    return { retries: 0, baseDelayMs: 0, maxDelayMs: 0, retryOn: new Set() }
  }
  const r = (value ?? {}) as Record<string, unknown>
  if (typeof r !== 'object' || r === null || Array.isArray(r)) {
    throw invalid(`"retry" must be an object or false, got ${described(value)}`)
  }
  rejectUnknownOptions(r, RETRY_OPTIONS, FACTORY, 'retry.')
  const retries = r.retries ?? 3
  if (
    typeof retries !== 'number' ||
    !Number.isSafeInteger(retries) ||
    retries < 0 ||
    retries > 100
  ) {
    throw invalid(`"retry.retries" must be an integer from 0 to 100, got ${String(retries)}`)
  }
  const baseDelayMs = positiveMs(r.baseDelayMs, 'retry.baseDelayMs', 200, true)
  const maxDelayMs = positiveMs(r.maxDelayMs, 'retry.maxDelayMs', 10_000, true)
  if (maxDelayMs < baseDelayMs) {
    throw invalid(
      `"retry.maxDelayMs" (${maxDelayMs}) must not be below "retry.baseDelayMs" (${baseDelayMs})`,
    )
  }
  const retryOn = r.retryOn ?? [429, 503]
  if (!Array.isArray(retryOn)) {
    throw invalid(`"retry.retryOn" must be an array of HTTP statuses, got ${described(retryOn)}`)
  }
  for (const status of retryOn) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw invalid(
        `"retry.retryOn" entries must be HTTP error statuses (400-599), got ${String(status)}`,
      )
    }
  }
  return { retries, baseDelayMs, maxDelayMs, retryOn: new Set(retryOn as number[]) }
}

/**
 * Defaults and checks for `createClient`, once.
 *
 * @throws KeywardError `invalid_options` naming the option and what was expected
 */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalid(`${FACTORY} needs an options object ({ apiKey, … }), got ${described(options)}`)
  }
  rejectUnknownOptions(options, CLIENT_OPTIONS, FACTORY)
  const allowInsecureHttp = options.allowInsecureHttp ?? false
  if (typeof allowInsecureHttp !== 'boolean') {
    throw invalid(`"allowInsecureHttp" must be a boolean, got ${described(allowInsecureHttp)}`)
  }
  const { apiKey } = options
  if (typeof apiKey !== 'function') assertValidApiKey(apiKey, '"apiKey"')
  let baseUrl: URL | null = null
  if (options.baseUrl !== undefined) {
    baseUrl = parseUrl(options.baseUrl, 'baseUrl', null)
    assertSafeUrl(baseUrl, 'baseUrl', allowInsecureHttp)
    if (baseUrl.search !== '' || baseUrl.hash !== '') {
      throw invalid('"baseUrl" must not have a query string or fragment')
    }
  }
  const timeoutMs = positiveMs(options.timeoutMs, 'timeoutMs', 10_000)
  const deadlineMs = positiveMs(options.deadlineMs, 'deadlineMs', Math.max(30_000, timeoutMs))
  if (deadlineMs < timeoutMs) {
    throw invalid(`"deadlineMs" (${deadlineMs}) must not be below "timeoutMs" (${timeoutMs})`)
  }
  const idempotency = options.idempotency ?? 'off'
  if (idempotency !== 'auto' && idempotency !== 'off') {
    throw invalid(`"idempotency" must be 'auto' or 'off', got ${String(idempotency)}`)
  }
  if (idempotency === 'auto' && typeof globalThis.crypto?.randomUUID !== 'function') {
    throw invalid('"idempotency: \'auto\'" needs crypto.randomUUID, which this runtime lacks')
  }
  if (
    options.fetch === undefined
      ? typeof globalThis.fetch !== 'function'
      : typeof options.fetch !== 'function'
  ) {
    throw invalid('"fetch" must be a function; this runtime has no global fetch, so pass one')
  }
  // looked up per call and called unbound: browsers and workers throw "Illegal invocation"
  // when their fetch is called as a method of another object
  const fetchImpl: FetchFunction = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  if (options.onRetry !== undefined && typeof options.onRetry !== 'function') {
    throw invalid(`"onRetry" must be a function, got ${described(options.onRetry)}`)
  }
  return {
    apiKey,
    baseUrl,
    token: resolveToken(options.token, baseUrl, allowInsecureHttp),
    retry: resolveRetry(options.retry),
    timeoutMs,
    deadlineMs,
    idempotency,
    fetch: fetchImpl,
    onRetry: options.onRetry ?? null,
    allowInsecureHttp,
  }
}
