import type { IncomingMessage, ServerResponse } from 'node:http'
import { equalsLowerAscii, type RequestView } from './credentials.js'
import type { DeniedResponse } from './responses.js'

/**
 * What Node's HTTP/1 server leaves on a connection's socket (lib/_http_server.js): the parser
 * while the connection lives, and the server it was accepted by.
 */
interface HttpSocket {
  readonly parser?: { readonly maxHeaderPairs?: unknown } | null
  readonly server?: { readonly maxHeadersCount?: unknown } | null
}

/**
 * The parser's limit when the server's `maxHeadersCount` is `null` (lib/_http_common.js
 * `MAX_HEADER_PAIRS`): 2000 `rawHeaders` entries, so 1,000 lines, although the docs say 2000.
 */
const NODE_DEFAULT_HEADER_ENTRIES = 2000

/**
 * How many `rawHeaders` entries (two per line) Node turns into `req.headers` on this
 * connection; 0 or less for no limit. The parser's own value while it is attached, else the
 * server's `maxHeadersCount` the way Node applies it (`<< 1`; `null` keeps the parser default).
 * A socket without an HTTP/1 server (HTTP/2, a hand-built request) has no such limit.
 */
function headerEntryLimit(socket: HttpSocket | null | undefined): number {
  const pairs = socket?.parser?.maxHeaderPairs
  if (typeof pairs === 'number') return pairs
  const server = socket?.server
  if (server === null || server === undefined) return 0
  const count = server.maxHeadersCount
  if (typeof count === 'number') return count << 1
  return count === null ? NODE_DEFAULT_HEADER_ENTRIES : 0
}

/** Headers of which Node's `req.headers` keeps only the first line (those keyward reads). */
const SINGLE_VALUED = new Set(['authorization', 'user-agent', 'host', 'content-type'])

/**
 * A `RequestView` over Node's `IncomingMessage` (also Express's request and Fastify's
 * `request.raw`). Headers are read from `rawHeaders`, which keeps every line: `req.headers`
 * joins a repeated `X-API-Key` and silently drops a second `Authorization`.
 */
export class NodeRequestView implements RequestView {
  readonly req: IncomingMessage

  constructor(req: IncomingMessage) {
    this.req = req
  }

  get method(): string {
    return this.req.method ?? 'GET'
  }

  get url(): string {
    return this.req.url ?? '/'
  }

  get ip(): string | undefined {
    return this.req.socket?.remoteAddress
  }

  /**
   * Node stops collecting header lines at the limit and builds `req.headers` from the first
   * `limit` entries of `rawHeaders`, silently. `rawHeaders` can hold exactly `limit` entries
   * whether or not more lines were dropped (they are gathered in chunks), so reaching the
   * limit counts as cut: a request with exactly that many lines is refused too.
   */
  get headersTruncated(): boolean {
    const limit = headerEntryLimit(this.req.socket as HttpSocket | null)
    return limit > 0 && this.req.rawHeaders.length >= limit
  }

  header(name: string): string | readonly string[] | undefined {
    // Node has parsed the headers already: absent is absent, and a repeated list header comes
    // joined ("a, b"), which the comma rule catches. Only single-valued headers such as
    // Authorization lose their second line there, so those are read from rawHeaders.
    const parsed = this.req.headers[name]
    if (parsed === undefined || !SINGLE_VALUED.has(name)) return parsed
    const raw = this.req.rawHeaders
    let one: string | undefined
    let many: string[] | undefined
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!
      if (n.length !== name.length || !equalsLowerAscii(n, 0, n.length, name)) continue
      const value = raw[i + 1]!
      if (one === undefined) one = value
      else if (many === undefined) many = [one, value]
      else many.push(value)
    }
    return many ?? one
  }
}

/** Copies headers onto a Node response (also used for Express). */
export function setHeaders(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  for (const name in headers) res.setHeader(name, headers[name]!)
}

/** Writes a denial onto a Node response (also used for Express). */
export function writeDenied(res: ServerResponse, response: DeniedResponse): void {
  res.statusCode = response.status
  setHeaders(res, response.headers)
  res.end(response.body)
}
