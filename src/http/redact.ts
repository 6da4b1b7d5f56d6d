import { rejectUnknownOptions } from '../core/options.js'
import { queryNameIs, replaceQueryValues, resolveQueryParam } from './query.js'

/** What replaces a credential in logs. */
export const REDACTED = '[REDACTED]'

const CREDENTIAL_HEADERS = new Set(['x-api-key', 'authorization', 'proxy-authorization'])

/**
 * Replaces the value of the `api_key` query parameter (or `param`) wherever it appears in a
 * URL or a whole log line. Names are decoded exactly as the `query` source decodes them
 * (`%61pi_key`, `api%5Fkey`, `+` for a space) and compared ignoring ASCII case. A value runs
 * from the `=` to the next `&`, `#`, space, tab or line break, or the end of the text: request
 * targets never hold spaces or line breaks, so in a log line those end the URL, while a quote
 * or a `;` does not (an imported key may contain one).
 *
 * @example
 * redactUrl('/orders?api_key=kw_live_x&page=2') // '/orders?api_key=[REDACTED]&page=2'
 * app.use(logger((line) => console.log(redactUrl(line)))) // hono/logger
 * morgan.token('url', (req) => redactUrl(req.originalUrl ?? req.url ?? ''))
 */
export function redactUrl(text: string, param = 'api_key'): string {
  // fast path: the common URL carries no parameter at all
  if (!text.includes('=')) return text
  return replaceQueryValues(text, param, REDACTED)
}

/**
 * A copy of a headers object with `X-API-Key`, `Authorization` and `Proxy-Authorization`
 * replaced (the auth scheme, up to the first space or tab, is kept: `Bearer [REDACTED]`).
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
      // the scheme ends where parseAuthorization ends it: at a space or a tab ("Bearer\tkey x")
      const space = value.search(/[ \t]/)
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

/** Options of `createRequestRedactor`. */
export interface RequestRedactorOptions {
  /** The `queryParam` your `requireApiKey` uses. Default `api_key`. */
  queryParam?: string
}

/** Log redaction for one query parameter name. */
export interface RequestRedactor {
  /** The request serialiser (see `redactRequest`) for this parameter. */
  readonly redactRequest: (req: LoggableRequest) => RedactedRequest
  /** `redactUrl(text, queryParam)`. */
  readonly redactUrl: (text: string) => string
  /** pino `redact` paths (see `keywardRedactPaths`) for this parameter. */
  readonly redactPaths: readonly string[]
  /** `{ req: redactRequest }`, to spread into pino's `serializers`. */
  readonly serializers: { readonly req: (req: LoggableRequest) => RedactedRequest }
}

const REDACTOR_OPTIONS = new Set(['queryParam'])

/**
 * Log redaction for a custom `queryParam`: the same serialiser, URL redaction and pino paths
 * as `redactRequest`, `redactUrl` and `keywardRedactPaths`, for that parameter name.
 *
 * @example
 * const redactor = createRequestRedactor({ queryParam: 'token' })
 * app.use(pinoHttp({ serializers: redactor.serializers }))
 * pino({ redact: [...redactor.redactPaths] })
 * @throws KeywardError `invalid_options` for an unknown option or a bad `queryParam`
 */
export function createRequestRedactor(options: RequestRedactorOptions = {}): RequestRedactor {
  rejectUnknownOptions(options, REDACTOR_OPTIONS, 'createRequestRedactor')
  const param = resolveQueryParam(options.queryParam)

  function redactRequest(req: LoggableRequest): RedactedRequest {
    const out: RedactedRequest = { url: '' }
    if (req.id !== undefined) out.id = req.id
    if (req.method !== undefined) out.method = req.method
    out.url = redactUrl(req.originalUrl ?? req.url ?? '', param)
    if (typeof req.query === 'object' && req.query !== null) {
      const query: Record<string, unknown> = { ...(req.query as Record<string, unknown>) }
      // frameworks hand over decoded names; an undecoded one is decoded here, as extraction would
      for (const name of Object.keys(query))
        if (queryNameIs(name, 0, name.length, param, true)) query[name] = REDACTED
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

  const redactPaths = Object.freeze([
    'req.headers["x-api-key"]',
    'req.headers.authorization',
    'req.headers["proxy-authorization"]',
    /^[A-Za-z_][A-Za-z0-9_]*$/.test(param) ? `req.query.${param}` : `req.query["${param}"]`,
  ])
  return Object.freeze({
    redactRequest,
    redactUrl: (text: string) => redactUrl(text, param),
    redactPaths,
    serializers: Object.freeze({ req: redactRequest }),
  })
}

const defaultRedactor = createRequestRedactor()

/**
 * A request serialiser for pino, pino-http and Fastify's logger that never logs a key:
 * credential headers are replaced and the `api_key` query parameter is removed from the URL
 * and the parsed query. For another `queryParam`, use `createRequestRedactor({ queryParam })`.
 *
 * @example
 * pinoHttp({ serializers: { req: redactRequest } })
 * Fastify({ logger: { serializers: { req: redactRequest } } })
 */
export const redactRequest: (req: LoggableRequest) => RedactedRequest =
  defaultRedactor.redactRequest

/**
 * pino `redact` paths that remove credentials from a logged request, for loggers that use
 * their own request serialiser: `pino({ redact: keywardRedactPaths })`. They do not cover
 * URLs, nor query names sent percent-encoded; use `redactRequest` (or `redactUrl`) when the
 * `query` source is on.
 */
export const keywardRedactPaths: readonly string[] = defaultRedactor.redactPaths

/** `{ req: redactRequest }`, to spread into pino's `serializers`. */
export const keywardSerializers = defaultRedactor.serializers
