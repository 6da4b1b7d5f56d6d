import type { IncomingMessage, ServerResponse } from 'node:http'
import { equalsLowerAscii, type RequestView } from './credentials.js'
import type { DeniedResponse } from './responses.js'

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

  /** Express and connect rewrite `req.url` inside mounted routers; `originalUrl` is as received. */
  get url(): string {
    return (this.req as { originalUrl?: string }).originalUrl ?? this.req.url ?? '/'
  }

  /** What a body parser that ran first (Express, connect) left on `req.body`. */
  get body(): unknown {
    return (this.req as { body?: unknown }).body
  }

  get ip(): string | undefined {
    return this.req.socket?.remoteAddress
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
