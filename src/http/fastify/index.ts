import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'
import type { VerifiedKey } from '../../core/keyward.js'
import { createAuthenticator } from '../authenticate.js'
import { NodeRequestView } from '../node-view.js'
import { type ApiKeyOptions, checkScopes } from '../options.js'

export type { AuthResult } from '../authenticate.js'
export type {
  ApiKeyOptions,
  CredentialSource,
  DeniedEvent,
  ProblemDetails,
} from '../options.js'
export {
  keywardRedactPaths,
  keywardSerializers,
  REDACTED,
  redactHeaders,
  redactRequest,
  redactUrl,
} from '../redact.js'

/** Per-route setting: extra required scopes, or `false` to leave the route open. */
export type KeywardRouteConfig = { scopes?: readonly string[] } | false

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

/**
 * An `onRequest` hook that authenticates with API keys. Scopes in the route's
 * `config.keyward.scopes` are required on top of `options.scopes`; `config.keyward: false`
 * leaves a route open.
 *
 * @example
 * app.get('/orders', { onRequest: requireApiKey({ keyward, scopes: ['orders:read'] }) }, handler)
 * @throws KeywardError `invalid_options` naming a bad option
 */
export function requireApiKey(options: ApiKeyOptions<FastifyRequest>): onRequestHookHandler {
  const auth = createAuthenticator(options)
  const base = auth.options.scopes
  // route configs are per-route objects that live as long as the route: merge once per route
  const merged = new WeakMap<object, readonly string[]>()
  function scopesOf(
    config: { keyward?: KeywardRouteConfig } | undefined,
  ): readonly string[] | false {
    const route = config?.keyward
    if (route === false) return false
    if (route?.scopes === undefined || config === undefined) return base
    let scopes = merged.get(config)
    if (scopes === undefined) {
      scopes = checkScopes([...base, ...route.scopes], 'route config "keyward.scopes"')
      merged.set(config, scopes)
    }
    return scopes
  }
  // callback style, not async: on the hot path fastify then handles no promise of ours
  return function keywardOnRequest(
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
  ): void {
    const scopes = scopesOf(request.routeOptions.config)
    if (scopes === false) {
      done()
      return
    }
    auth.run(
      new NodeRequestView(request.raw),
      request,
      scopes,
      (result) => {
        if (result.ok) {
          request.apiKey = result.key
          done()
          return
        }
        const { status, headers, body } = result.response
        // a Buffer keeps the content type exactly as set (fastify appends a charset to strings)
        reply.code(status).headers(headers).send(Buffer.from(body))
      },
      (error) => done(error as Error),
    )
  }
}

/**
 * Fastify plugin: decorates `request.apiKey` and authenticates every route of the context it
 * is registered in (with fastify-plugin, the parent context) through an `onRequest` hook.
 *
 * @example
 * await app.register(keywardFastify, { keyward, scopes: ['orders:read'] })
 * app.get('/health', { config: { keyward: false } }, () => 'ok')
 * app.post('/orders', { config: { keyward: { scopes: ['orders:write'] } } }, handler)
 */
const plugin: FastifyPluginAsync<ApiKeyOptions<FastifyRequest>> = async (fastify, options) => {
  const hook = requireApiKey(options)
  if (!fastify.hasRequestDecorator('apiKey')) fastify.decorateRequest('apiKey', null)
  fastify.addHook('onRoute', (route) => {
    const scopes = route.config?.keyward === false ? undefined : route.config?.keyward?.scopes
    // fail at start-up, not on the first request, for a misspelled scope
    checkScopes(scopes, `route ${route.method} ${route.url} config "keyward.scopes"`)
  })
  fastify.addHook('onRequest', hook)
}

export const keywardFastify = fp(plugin, { fastify: '5.x', name: 'keyward' })
