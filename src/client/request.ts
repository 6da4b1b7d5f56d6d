import { KeywardError } from '../core/errors.js'
import { AUTO_IDEMPOTENCY_METHODS, isRetryable } from './backoff.js'
import { joinPath, type ResolvedClientOptions, unsafeUrlReason } from './options.js'

// One call's request, read once from fetch's (input, init) and checked before anything is
// sent: where it goes, whether it may be sent again, and the arguments of each attempt.

/** A call ready to be attempted, once or several times. */
export interface PreparedRequest {
  /** Uppercase, for the retry rules (a method fetch does not know goes as the caller spelled it). */
  method: string
  url: URL
  /** Origin and path, for messages and events: never the query, which may hold secrets. */
  label: string
  /** Whether the body can be sent again (absent, or not a stream). */
  isReplayable: boolean
  /** Whether a failed attempt may be repeated: replayable, and idempotent or with an `Idempotency-Key`. */
  isRetryable: boolean
  /** The caller's signal, if any. */
  signal: AbortSignal | null
  /** `fetch` arguments of one attempt: the caller's request with these headers and signal. */
  attempt(headers: Headers, signal: AbortSignal): [string | Request, RequestInit | undefined]
  /** The caller's headers plus an automatic `Idempotency-Key`, without credentials. */
  headers: Headers
}

// The headers the client owns: a caller's copy would send a second credential (the server
// answers key_ambiguous) or a stale one, so they are refused rather than merged.
const CREDENTIAL_HEADERS = ['x-api-key', 'authorization'] as const
// `api_key` is the query parameter servers may accept keys in (DESIGN.md, opt-in)
const KEY_PARAM = 'api_key'
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/
// fetch uppercases these but not PATCH, which servers then answer with 400 or 405; other
// method names are case-sensitive (RFC 9110 §9.1) and go as the caller spelled them
const STANDARD_METHODS: ReadonlySet<string> = new Set([
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
])

function refuse(message: string): KeywardError {
  return new KeywardError('invalid_argument', message)
}

function isRequest(input: unknown): input is Request {
  return typeof Request !== 'undefined' && input instanceof Request
}

/** Bodies `fetch` can send again: everything but streams (and async iterables). */
function isReplayableBody(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    (typeof Blob !== 'undefined' && body instanceof Blob) ||
    (typeof FormData !== 'undefined' && body instanceof FormData)
  )
}

function resolveUrl(raw: string, options: ResolvedClientOptions): URL {
  const { baseUrl } = options
  let url: URL
  try {
    url = baseUrl === null ? new URL(raw) : new URL(joinPath(baseUrl, raw))
  } catch {
    throw refuse(
      baseUrl === null
        ? 'the URL is relative (or invalid) and the client has no "baseUrl": pass an absolute URL or set "baseUrl"'
        : 'the URL is not valid, absolute or relative to "baseUrl"',
    )
  }
  if (baseUrl !== null && url.origin !== baseUrl.origin) {
    throw refuse(
      `${url.origin} is not the origin of "baseUrl" (${baseUrl.origin}): the client sends its key to that origin only; use another client for another service`,
    )
  }
  const reason = unsafeUrlReason(url, options.allowInsecureHttp)
  if (reason !== null) throw refuse(`the URL ${reason}`)
  for (const name of url.searchParams.keys()) {
    if (name.toLowerCase() === KEY_PARAM) {
      throw refuse(
        `the URL has an "${name}" query parameter: keys in URLs end up in logs and browser history; the client sends the key in a header, so remove it`,
      )
    }
  }
  return url
}

/**
 * Reads and checks one call's `fetch` arguments.
 *
 * @throws KeywardError `invalid_argument`: a URL outside `baseUrl` or with `api_key`, a
 * credential header of the caller's, `redirect: 'follow'`, a malformed `Idempotency-Key`
 */
export function prepareRequest(
  input: string | URL | Request,
  init: RequestInit | undefined,
  options: ResolvedClientOptions,
): PreparedRequest {
  if (init?.redirect === 'follow') {
    throw refuse(
      `redirect: 'follow' is not supported: fetch would resend the key to whatever origin a Location header names; leave "redirect" unset (the 3xx response is returned) or use 'error'`,
    )
  }
  const base = isRequest(input) ? new Request(input, init) : null
  const url = resolveUrl(base?.url ?? (input instanceof URL ? input.href : String(input)), options)
  const rawMethod = base?.method ?? init?.method ?? 'GET'
  const method = rawMethod.toUpperCase()
  const headers = new Headers(base?.headers ?? init?.headers)
  for (const name of CREDENTIAL_HEADERS) {
    if (headers.has(name)) {
      throw refuse(
        `the request already has an ${name === 'authorization' ? 'Authorization' : 'X-API-Key'} header: the client sets the credential itself, so remove yours (two credentials are refused by the server as key_ambiguous)`,
      )
    }
  }
  if ((method === 'GET' || method === 'HEAD') && init?.body !== undefined && init.body !== null) {
    // fetch would throw a TypeError that reads like a network failure
    throw refuse(`a ${method} request cannot have a body`)
  }
  let idempotencyKey = headers.get('idempotency-key')
  if (idempotencyKey !== null && !IDEMPOTENCY_KEY.test(idempotencyKey.trim())) {
    throw refuse('"Idempotency-Key" must be 1 to 255 visible ASCII characters')
  }
  if (
    idempotencyKey === null &&
    options.idempotency === 'auto' &&
    AUTO_IDEMPOTENCY_METHODS.has(method)
  ) {
    idempotencyKey = globalThis.crypto.randomUUID()
    headers.set('idempotency-key', idempotencyKey)
  }
  // a Request's body is a stream, whatever it was made from
  const isReplayable = base === null ? isReplayableBody(init?.body) : base.body === null
  // the client never follows redirects: fetch keeps X-API-Key when it follows one to another origin
  const redirect: 'error' | 'manual' =
    (init?.redirect ?? base?.redirect) === 'error' ? 'error' : 'manual'
  const methodAsSent = STANDARD_METHODS.has(method) ? method : rawMethod
  const rest: RequestInit = { ...init }
  delete rest.signal
  delete rest.headers
  return {
    method,
    url,
    label: url.origin + url.pathname,
    isReplayable,
    isRetryable: isReplayable && isRetryable(method, idempotencyKey !== null),
    signal: base?.signal ?? init?.signal ?? null,
    headers,
    attempt: (attemptHeaders, signal) =>
      base === null
        ? [url.href, { ...rest, method: methodAsSent, headers: attemptHeaders, signal, redirect }]
        : [
            new Request(base, { method: methodAsSent, headers: attemptHeaders, signal, redirect }),
            undefined,
          ],
  }
}
