import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'
import type { VerifiedKey } from '../../core/keyward.js'
import { type Authenticator, createAuthenticator } from '../authenticate.js'
import { NodeRequestView } from '../node-view.js'
import { type ApiKeyOptions, checkScopes, checkUsageTag } from '../options.js'

export * from '../public.js'

/**
 * Per-route setting: extra required scopes and the usage tag (default: the route's URL
 * pattern), or `false` to leave the route open.
 */
export type KeywardRouteConfig = { scopes?: readonly string[]; usageTag?: string } | false

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified key; `null` on open routes and let-through preflights. */
    apiKey: VerifiedKey | null
  }
  interface FastifyContextConfig {
    /** keyward for this route: `{ scopes: [...] }` adds required scopes, `false` opens it. */
    keyward?: KeywardRouteConfig
  }
}

const IS_KEYWARD_HOOK = Symbol('keyward.onRequest')

/** What a keyward hook was made with, kept on it so a later registration can merge with it. */
interface HookSource {
  auth: Authenticator<FastifyRequest>
  scopes: readonly string[]
  /** made by `requireApiKey` for this route, not by a plugin */
  own: boolean
}
type KeywardHook = onRequestHookHandler & { [IS_KEYWARD_HOOK]: HookSource }

/**
 * Node's request, plus Fastify's parsed body: there when the hook runs after parsing (as a
 * `preValidation` or `preHandler` hook), not yet in `onRequest`.
 */
class FastifyRequestView extends NodeRequestView {
  readonly request: FastifyRequest

  constructor(request: FastifyRequest) {
    super(request.raw)
    this.request = request
  }

  override get body(): unknown {
    return this.request.body
  }
}

/** The hook for one set of scopes; callback style, so fastify handles no promise of ours. */
function hookFor(
  auth: Authenticator<FastifyRequest>,
  scopes: readonly string[],
  routeTag: string | ((request: FastifyRequest) => string) | undefined,
): onRequestHookHandler {
  const hook = function keywardOnRequest(
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
  ): void {
    auth.run(
      new FastifyRequestView(request),
      request,
      scopes,
      (result) => {
        if (result.ok) {
          if (result.headers !== undefined) reply.headers(result.headers)
          request.apiKey = result.key
          done()
          return
        }
        const { status, headers, body } = result.response
        // a Buffer keeps the content type exactly as set (fastify appends a charset to strings)
        reply.code(status).headers(headers).send(Buffer.from(body))
      },
      (error) => done(error as Error),
      typeof routeTag === 'function' ? routeTag(request) : routeTag,
    )
  }
  return hook
}

/** A route's hook, marked with what it was made with (see HookSource). */
function routeHook(
  auth: Authenticator<FastifyRequest>,
  scopes: readonly string[],
  routeTag: string | ((request: FastifyRequest) => string) | undefined,
  own: boolean,
): KeywardHook {
  const source: HookSource = { auth, scopes, own }
  return Object.assign(hookFor(auth, scopes, routeTag), { [IS_KEYWARD_HOOK]: source })
}

/**
 * An `onRequest` hook for one route, requiring `options.scopes`.
 *
 * @example
 * app.get('/orders', { onRequest: requireApiKey({ keyward, scopes: ['orders:read'] }) }, handler)
 * @throws KeywardError `invalid_options` naming a bad option
 */
export function requireApiKey(options: ApiKeyOptions<FastifyRequest>): onRequestHookHandler {
  const auth = createAuthenticator(options)
  // the route is not known here: without a `usageTag` option, usage is tagged per request with
  // the matched route's pattern (reading it builds a small object; the plugin's hooks do not)
  return routeHook(
    auth,
    auth.options.scopes,
    auth.options.usageTag === undefined ? routeUrlOf : undefined,
    true,
  )
}

const routeUrlOf = (request: FastifyRequest): string => request.routeOptions.url ?? ''

/**
 * Fastify plugin: decorates `request.apiKey` and authenticates every route added after it in
 * the context it is registered in (with fastify-plugin, the parent context). Scopes in a
 * route's `config.keyward.scopes` are required on top of `options.scopes`;
 * `config.keyward: false` leaves a route open. Unknown paths are authenticated too.
 *
 * @example
 * await app.register(keywardFastify, { keyward, scopes: ['orders:read'] })
 * app.get('/health', { config: { keyward: false } }, () => 'ok')
 * app.post('/orders', { config: { keyward: { scopes: ['orders:write'] } } }, handler)
 * @throws KeywardError `invalid_options` naming a bad option; `invalid_argument` for a bad route scope
 */
const plugin: FastifyPluginAsync<ApiKeyOptions<FastifyRequest>> = async (fastify, options) => {
  const auth = createAuthenticator(options)
  const base = auth.options.scopes
  // unmatched requests: no route, no tag
  const baseHook = hookFor(auth, base, undefined)
  if (!fastify.hasRequestDecorator('apiKey')) fastify.decorateRequest('apiKey', null)
  // Each route gets its own hook with its scopes merged and checked once, here: nothing is
  // looked up per request (request.routeOptions builds a new object on every access), open
  // routes run no keyward code, and a misspelled scope fails at start-up.
  fastify.addHook('onRoute', (route) => {
    const config = route.config?.keyward
    if (config === false) return
    const own = route.onRequest
    const hooks = own === undefined ? [] : Array.isArray(own) ? own : [own]
    // A route may already carry keyward hooks: its own requireApiKey, a parent context's plugin,
    // or (on the automatic HEAD route) the GET route's. One hook authenticates the request once,
    // with every scope any of them requires; its options are the route's own requireApiKey's,
    // else the innermost plugin's (this one).
    const present = hooks.filter((h) => IS_KEYWARD_HOOK in h) as KeywardHook[]
    const sources = present.map((h) => h[IS_KEYWARD_HOOK])
    const inherited = sources.flatMap((s) => s.scopes)
    const routeScopes =
      config?.scopes === undefined
        ? []
        : checkScopes(config.scopes, `route ${route.method} ${route.url} config "keyward.scopes"`)
    const scopes =
      inherited.length === 0 && routeScopes.length === 0
        ? base
        : Object.freeze([...new Set([...inherited, ...base, ...routeScopes])])
    // the route's pattern (never a request's URL), unless the route names its own tag
    const tag =
      config?.usageTag === undefined
        ? route.url
        : checkUsageTag(
            config.usageTag,
            `route ${route.method} ${route.url} config "keyward.usageTag"`,
          )
    const owner = sources.find((s) => s.own)
    const hook = routeHook(owner?.auth ?? auth, scopes, tag, owner !== undefined)
    if (present.length === 0) {
      route.onRequest = [hook, ...hooks]
      return
    }
    // in the place of the first one, so a requireApiKey put after the route's own hooks stays there
    const first = hooks.indexOf(present[0] as onRequestHookHandler)
    route.onRequest = hooks.flatMap((h, i) =>
      i === first ? [hook] : IS_KEYWARD_HOOK in h ? [] : [h],
    )
  })
  // requests that match no route get no route hook: authenticate them here, so a 404 does not
  // tell a caller without a key which paths exist
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.is404) baseHook.call(fastify, request, reply, done)
    else done()
  })
}

export const keywardFastify = fp(plugin, { fastify: '5.x', name: 'keyward' })
