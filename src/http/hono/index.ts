import type { IncomingMessage } from 'node:http'
import type { Context, MiddlewareHandler } from 'hono'
import type { VerifiedKey } from '../../core/keyward.js'
import { createAuthenticator } from '../authenticate.js'
import type { RequestView } from '../credentials.js'
import { NodeRequestView } from '../node-view.js'
import type { ApiKeyOptions } from '../options.js'

export * from '../public.js'

declare module 'hono' {
  interface ContextVariableMap {
    /** The verified key, set by keyward's `requireApiKey()`. */
    apiKey: VerifiedKey
  }
}

interface NodeBindings {
  incoming?: IncomingMessage
}

/**
 * On `@hono/node-server`, Node's own request: its headers are parsed already, while reading
 * `c.req.raw.headers` would build a fetch `Headers` for every request. Elsewhere (Bun, Deno,
 * workers), the fetch request.
 */
function viewOf(c: Context): RequestView {
  const incoming = (c.env as NodeBindings | undefined)?.incoming
  return incoming?.rawHeaders !== undefined ? new NodeRequestView(incoming) : new HonoRequestView(c)
}

/**
 * A `RequestView` over a Hono context, for runtimes other than Node. Fetch `Headers` join
 * repeated lines with ", ", which the shared extraction treats as ambiguous, so duplicates are
 * caught here too. The fetch API has no client address: per-IP limits need Node.
 */
class HonoRequestView implements RequestView {
  readonly c: Context

  constructor(c: Context) {
    this.c = c
  }

  get method(): string {
    return this.c.req.method
  }

  get url(): string {
    return this.c.req.url
  }

  get ip(): string | undefined {
    return undefined
  }

  header(name: string): string | undefined {
    return this.c.req.raw.headers.get(name) ?? undefined
  }
}

/**
 * The route pattern for usage analytics: the path this middleware was registered with
 * (`app.get('/orders/:id', requireApiKey(…), …)`), or, for a catch-all `app.use('*', …)`,
 * the pattern of the last route matched (the handler's), read only then since it builds a list.
 */
function routeTagOf(c: Context): string | undefined {
  const own = c.req.routePath
  if (!own.endsWith('*')) return own
  const routes = c.req.matchedRoutes
  return routes[routes.length - 1]?.path ?? own
}

/**
 * Hono middleware: lets a request through only with a valid API key carrying `scopes` and
 * sets `c.get('apiKey')`; otherwise answers with the problem+json denial.
 *
 * @example
 * app.get('/orders', requireApiKey({ keyward, scopes: ['orders:read'] }), (c) =>
 *   c.json({ keyId: c.get('apiKey').id }))
 * @throws KeywardError `invalid_options` naming a bad option
 */
export function requireApiKey(options: ApiKeyOptions<Context>): MiddlewareHandler {
  const auth = createAuthenticator(options)
  const scopes = auth.options.scopes
  return async function keywardRequireApiKey(c, next) {
    const result = await auth.authenticate(viewOf(c), c, scopes, routeTagOf(c))
    if (result.ok) {
      if (result.key !== null) c.set('apiKey', result.key)
      const headers = result.headers
      if (headers === undefined) return next()
      // before next(): c.json()/c.text() pick them up without copying the response
      for (const name in headers) c.header(name, headers[name])
      await next()
      // a Response the handler built itself did not: copy them onto it
      for (const name in headers) {
        if (!c.res.headers.has(name)) c.header(name, headers[name])
      }
      return
    }
    const { status, headers, body } = result.response
    return new Response(body, { status, headers })
  }
}
