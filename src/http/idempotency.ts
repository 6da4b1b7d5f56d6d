import { createHash } from 'node:crypto'
import { type RequestView, trimOws } from './credentials.js'

// The HTTP side of the Idempotency-Key rule (docs/http.md#idempotency-key): which requests may
// use the header, and the operation a used key is bound to. The limiter keeps only a hash of
// the operation and decides replay, reuse or first use (docs/limits.md#idempotency-key).

/** Methods that are not idempotent by nature: the only ones honouring the header by default. */
export const DEFAULT_IDEMPOTENCY_METHODS: readonly string[] = Object.freeze(['POST', 'PATCH'])

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/

/**
 * The request's `Idempotency-Key`: one line of 1-255 visible ASCII characters (surrounding
 * spaces trimmed). Anything else (absent, repeated, malformed) is ignored, and the request is
 * charged like any other.
 */
export function idempotencyKeyOf(view: RequestView): string | undefined {
  const raw = view.header('idempotency-key')
  if (typeof raw !== 'string') return undefined
  const value = trimOws(raw)
  return IDEMPOTENCY_KEY_RE.test(value) ? value : undefined
}

/**
 * What a request does, for binding its `Idempotency-Key`: `METHOD path?query`, then the
 * SHA-256 of the body when the adapter has it (`view.body`). The path is the request target
 * as received (an absolute URL's origin dropped); the query's parameters are decoded and
 * re-encoded in order, without the credential's parameter when the query source is on
 * (`queryParam`), since a rotated key retrying the same request is the same operation.
 * `undefined` when the body cannot be hashed: the header is then ignored and the request is
 * charged in full.
 */
export function operationOf(view: RequestView, queryParam: string | null): string | undefined {
  let target = view.url
  if (target.charCodeAt(0) !== 47 /* / */) {
    // an absolute URL (fetch requests, proxy-style targets): keep from the path on
    const scheme = target.indexOf('://')
    const slash = scheme === -1 ? -1 : target.indexOf('/', scheme + 3)
    target = slash === -1 ? '/' : target.slice(slash)
  }
  const hash = target.indexOf('#')
  if (hash !== -1) target = target.slice(0, hash)
  const q = target.indexOf('?')
  let operation = `${view.method} ${q === -1 ? target : target.slice(0, q)}`
  if (q !== -1) {
    const params = new URLSearchParams(target.slice(q + 1))
    if (queryParam !== null) params.delete(queryParam)
    const query = params.toString()
    if (query !== '') operation += `?${query}`
  }
  const body = view.body
  if (body === undefined || body === null) return operation
  const digest = bodyHash(body)
  return digest === undefined ? undefined : `${operation} ${digest}`
}

/** SHA-256 of raw bytes or text as they are, or of a parsed body's JSON; undefined if it has none. */
function bodyHash(body: unknown): string | undefined {
  const sha = createHash('sha256')
  if (typeof body === 'string') sha.update(body)
  else if (ArrayBuffer.isView(body))
    sha.update(new Uint8Array(body.buffer, body.byteOffset, body.byteLength))
  else if (body instanceof ArrayBuffer) sha.update(new Uint8Array(body))
  else {
    let json: string | undefined
    try {
      json = JSON.stringify(body)
    } catch {
      return undefined // circular, a BigInt…: no fingerprint, so no replay
    }
    if (json === undefined) return undefined
    sha.update(json)
  }
  return sha.digest('base64url')
}
