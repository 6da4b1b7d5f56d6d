/** What replaces a credential in logs. */
export const REDACTED = '[REDACTED]'

const CREDENTIAL_HEADERS = new Set(['x-api-key', 'authorization', 'proxy-authorization'])

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

const patterns = new Map<string, RegExp>()

function paramPattern(param: string): RegExp {
  let re = patterns.get(param)
  if (re === undefined) {
    // the name also matches percent-encoded underscores (api%5Fkey), which URLSearchParams decodes
    const name = escapeRegExp(param).replace(/_/g, '(?:_|%5[Ff])')
    re = new RegExp(`([?&;]${name}=)[^&#\\s"']*`, 'gi')
    patterns.set(param, re)
  }
  return re
}

/**
 * Replaces the value of the `api_key` query parameter (or `param`) wherever it appears in a
 * URL or a whole log line.
 *
 * @example
 * redactUrl('/orders?api_key=kw_live_x&page=2') // '/orders?api_key=[REDACTED]&page=2'
 * app.use(logger((line) => console.log(redactUrl(line)))) // hono/logger
 * morgan.token('url', (req) => redactUrl(req.originalUrl ?? req.url ?? ''))
 */
export function redactUrl(text: string, param = 'api_key'): string {
  // fast path: the common URL carries no such parameter
  if (!text.includes('=')) return text
  return text.replace(paramPattern(param), `$1${REDACTED}`)
}

/**
 * A copy of a headers object with `X-API-Key`, `Authorization` and `Proxy-Authorization`
 * replaced (the auth scheme is kept: `Bearer [REDACTED]`).
 */
export function redactHeaders(
  headers: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> | undefined {
  if (headers === undefined || headers === null) return headers
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(headers)) {
    const value = headers[name]
    if (!CREDENTIAL_HEADERS.has(name.toLowerCase())) out[name] = value
    else if (name.toLowerCase() === 'x-api-key' || typeof value !== 'string') out[name] = REDACTED
    else {
      const space = value.indexOf(' ')
      out[name] = space > 0 ? `${value.slice(0, space)} ${REDACTED}` : REDACTED
    }
  }
  return out
}

/** The request fields the serialiser reads; pino-http, Fastify and Node requests all fit. */
export interface LoggableRequest {
  id?: unknown
  method?: string | undefined
  url?: string | undefined
  originalUrl?: string | undefined
  query?: unknown
  headers?: Readonly<Record<string, unknown>> | undefined
  remoteAddress?: string | undefined
  remotePort?: number | undefined
  ip?: string | undefined
  socket?: { remoteAddress?: string | undefined; remotePort?: number | undefined } | undefined
}

/** What `redactRequest` logs. */
export interface RedactedRequest {
  id?: unknown
  method?: string
  url: string
  query?: Record<string, unknown>
  headers?: Record<string, unknown>
  remoteAddress?: string
  remotePort?: number
  [key: string]: unknown
}

/**
 * A request serialiser for pino, pino-http and Fastify's logger that never logs a key:
 * credential headers are replaced and the `api_key` query parameter is removed from the URL.
 *
 * @example
 * pinoHttp({ serializers: { req: redactRequest } })
 * Fastify({ logger: { serializers: { req: redactRequest } } })
 */
export function redactRequest(req: LoggableRequest): RedactedRequest {
  const out: RedactedRequest = { url: '' }
  if (req.id !== undefined) out.id = req.id
  if (req.method !== undefined) out.method = req.method
  out.url = redactUrl(req.originalUrl ?? req.url ?? '')
  if (typeof req.query === 'object' && req.query !== null) {
    const query: Record<string, unknown> = { ...(req.query as Record<string, unknown>) }
    for (const name of Object.keys(query)) if (/^api_key$/i.test(name)) query[name] = REDACTED
    out.query = query
  }
  const headers = redactHeaders(req.headers)
  if (headers !== undefined) out.headers = headers
  const remoteAddress = req.remoteAddress ?? req.ip ?? req.socket?.remoteAddress
  if (remoteAddress !== undefined) out.remoteAddress = remoteAddress
  const remotePort = req.remotePort ?? req.socket?.remotePort
  if (remotePort !== undefined) out.remotePort = remotePort
  return out
}

/**
 * pino `redact` paths that remove credentials from a logged request, for loggers that use
 * their own request serialiser: `pino({ redact: keywardRedactPaths })`. They do not cover
 * URLs; use `redactRequest` (or `redactUrl`) when the `query` source is on.
 */
export const keywardRedactPaths: readonly string[] = Object.freeze([
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.query.api_key',
])

/** `{ req: redactRequest }`, to spread into pino's `serializers`. */
export const keywardSerializers = Object.freeze({ req: redactRequest })
