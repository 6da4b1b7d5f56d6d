// The authenticating reverse proxy: every path the service does not serve itself goes to an
// upstream through @fastify/reply-from (on undici), bodies streamed both ways.
//
// Authentication is the service's one Fastify adapter: each route rule is a Fastify route
// (`/*`, all methods) with the rule's scopes in `config.keyward`, told apart by a router
// constraint whose value is the rule the request's normalised path matches (table.ts). So the
// rule's scopes are checked by the same hook, in the same order, as on every admin route.
import type { IncomingMessage } from 'node:http'
import { Transform, type TransformCallback } from 'node:stream'
import replyFrom from '@fastify/reply-from'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { Agent } from 'undici'
import { type Clock, systemClock } from '../../core/clock.js'
import type { TrustedProxies } from '../../limits/client-ip.js'
import type { TokenSigner } from '../../tokens/signer.js'
import { problem, sendProblem } from '../problems.js'
import { PROXY_METHODS, type ProxyConfig, type ProxyRule } from './config.js'
import { clientHeaders, type Identity, upstreamHeaders } from './headers.js'
import { identityTokens } from './identity-tokens.js'
import { createProxyTable, type ProxyMatch } from './table.js'

type ForwardMatch = Extract<ProxyMatch, { kind: 'forward' }>
type FromOptions = Parameters<FastifyReply['from']>[1]

export interface ProxyRoutesOptions {
  config: ProxyConfig
  /** Signs the X-Keyward-Token of each forwarded request. */
  signer: TokenSigner
  /** Methods the service itself serves on a path (its own paths are never forwarded). */
  ownMethods: (path: string) => readonly string[]
  /** Whether the service itself serves a path (asked on every request: the fast form). */
  isOwn: (path: string) => boolean
  trustedProxies: TrustedProxies | null
  /** The service listens on HTTPS (X-Forwarded-Proto). */
  https: boolean
  /** When a reused X-Keyward-Token is renewed. Default the system clock. */
  clock?: Clock
}

/** The router constraint that picks the route of the rule a request matches. */
const CONSTRAINT = 'keywardProxyRoute'

// The match of each request, from the router's constraint to the handler and body parser, on
// the request itself: a WeakMap entry per request would cost the garbage collector more.
const MATCH = Symbol('keyward.proxyMatch')
type Matched = IncomingMessage & { [MATCH]?: ProxyMatch }

/** The proxy's match of a request (undefined for requests the proxy never saw). */
export function proxyMatchOf(request: FastifyRequest): ProxyMatch | undefined {
  return (request.raw as Matched)[MATCH]
}

/**
 * The units a request costs: its rule's `cost` for proxied requests, else 1. Given to the
 * service's adapter as its `cost` option when a rule charges something else than 1.
 */
export function proxyCost(request: FastifyRequest): number {
  const m = proxyMatchOf(request)
  return m?.kind === 'forward' && m.rule !== null ? m.rule.cost : 1
}

/** Marks the error of a request body past its route's limit, wherever undici wraps it. */
class BodyTooLarge extends Error {
  readonly code = 'FST_ERR_CTP_BODY_TOO_LARGE'
  readonly statusCode = 413
}

function isBodyTooLarge(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof BodyTooLarge) return true
  return false
}

function isTimeout(error: unknown): boolean {
  for (
    let e = error as (Error & { code?: string }) | undefined;
    e instanceof Error;
    e = e.cause as typeof e
  ) {
    const code = e.code
    if (
      code === 'FST_REPLY_FROM_GATEWAY_TIMEOUT' ||
      code === 'FST_REPLY_FROM_TIMEOUT' ||
      code === 'UND_ERR_CONNECT_TIMEOUT' ||
      code === 'UND_ERR_HEADERS_TIMEOUT'
    )
      return true
  }
  return false
}

/** Counts a chunked body and fails it past `limit` bytes (the upstream request is aborted). */
function limitedBody(payload: IncomingMessage, limit: number): Transform {
  let seen = 0
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length
      if (seen > limit) callback(new BodyTooLarge(`the request body is larger than ${limit} bytes`))
      else callback(null, chunk)
    },
  })
  payload.on('error', (error) => counted.destroy(error))
  payload.pipe(counted)
  return counted
}

function isWebSocket(request: FastifyRequest): boolean {
  const upgrade = request.headers.upgrade
  return typeof upgrade === 'string' && upgrade.toLowerCase().includes('websocket')
}

const noRetry = () => null

/** The forwarded query string, without its `?`, as the table matched it. */
function queryOf(_search: string, _url: string, request: FastifyRequest): string {
  return (proxyMatchOf(request) as ForwardMatch).query.slice(1)
}

/** 413, 504 or 502 for a request the upstream did not answer, problem+json. */
function answerUpstreamError(reply: FastifyReply, { error }: { error: unknown }): void {
  const p = isBodyTooLarge(error)
    ? problem(
        'body_too_large',
        'The request body is larger than this route accepts: send a smaller body.',
      )
    : isTimeout(error)
      ? problem('upstream_timeout', 'The upstream did not answer in time: try again later.')
      : problem(
          'upstream_failed',
          'The upstream could not be reached or broke the connection: try again later.',
        )
  sendProblem(reply, p)
}

/** The signed X-Keyward-Token of a request being forwarded (a request decoration). */
const IDENTITY_TOKEN = 'keywardIdentityToken'
declare module 'fastify' {
  interface FastifyRequest {
    [IDENTITY_TOKEN]: string | null
  }
}

const TAG_RE = /^[\x20-\x3e\x40-\x7e]{1,128}$/

/**
 * What usage analytics count a rule's requests under: its path pattern as configured
 * (`/orders/**`), or its route name when the pattern cannot be a tag (too long).
 */
function ruleTag(rule: ProxyRule, name: string): string {
  return TAG_RE.test(rule.pattern.source) ? rule.pattern.source : name
}

/** A router handler, as find-my-way stores them per constraint value. */
type Handler = Parameters<
  ReturnType<Parameters<FastifyInstance['addConstraintStrategy']>[0]['storage']>['set']
>[1]

/**
 * Registers the proxy's routes. Register it (without fastify-plugin: its body parser is its
 * own) after the keyward adapter and every route of the service's own.
 */
export const proxyRoutes: FastifyPluginAsync<ProxyRoutesOptions> = async (app, options) => {
  const { config, signer, trustedProxies, https } = options
  const table = createProxyTable(config, options.isOwn)
  const tokens = identityTokens(signer, options.clock ?? systemClock)

  app.addConstraintStrategy({
    name: CONSTRAINT,
    storage() {
      const handlers = new Map<unknown, Handler>()
      return {
        get: (value: unknown) => handlers.get(value) ?? null,
        set: (value: unknown, handler: Handler) => {
          handlers.set(value, handler)
        },
      }
    },
    // runs for every request once a route uses it; the match is kept for the handler
    deriveConstraint(req: IncomingMessage) {
      const m = table.match(req.method ?? 'GET', req.url ?? '/')
      const matched: Matched = req
      matched[MATCH] = m
      return m.route
    },
    mustMatchWhenDerived: false,
  })

  // our own undici Agent: reply-from's default one would not check upstream TLS certificates
  const agent = new Agent({
    connect: { timeout: config.connectTimeoutMs },
    headersTimeout: 0,
    bodyTimeout: 0,
  })
  await app.register(replyFrom, { undici: agent, disableRequestLogging: true })
  app.decorateRequest(IDENTITY_TOKEN, null)
  app.addHook('onClose', async () => {
    await agent.close()
  })

  // bodies go through untouched, as streams: nothing is parsed or buffered
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request, payload, done) => {
    const m = proxyMatchOf(request)
    const limit = m?.kind === 'forward' ? (m.rule?.maxBodyBytes ?? m.upstream.maxBodyBytes) : null
    if (limit === null) return done(null, payload)
    const declared = request.headers['content-length']
    if (declared !== undefined) {
      // Node ends the body at Content-Length: the declared size is the size
      if (Number(declared) > limit)
        return done(new BodyTooLarge(`the body is larger than ${limit} bytes`), undefined)
      return done(null, payload)
    }
    done(null, limitedBody(payload, limit))
  })

  function refuse(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const m = proxyMatchOf(request)!
    switch (m.kind) {
      case 'bad':
        return sendProblem(
          reply,
          problem('invalid_request', `The path cannot be forwarded: ${m.reason}.`),
        )
      case 'uncovered':
        return sendProblem(
          reply,
          problem(
            'route_not_allowed',
            `No route rule allows ${request.method} ${m.path}: ask the operator to add one to "routes" in the config file.`,
          ),
        )
      case 'own': {
        const allowed = options.ownMethods(m.path)
        if (m.changed)
          return sendProblem(
            reply,
            problem(
              'not_found',
              `${m.path} is keyward's own API: write the path exactly so, without "." segments, "//" or escapes.`,
            ),
          )
        reply.header('allow', allowed.join(', '))
        return sendProblem(
          reply,
          problem(
            'method_not_allowed',
            `${request.method} is not allowed on ${m.path}: use ${allowed.join(', ')}.`,
          ),
        )
      }
      default:
        return sendProblem(
          reply,
          problem('not_found', 'No upstream serves this path: see "upstreams" in the config file.'),
        )
    }
  }

  // What reply-from is told per upstream, built once: everything a request adds is read from
  // the request itself (its match, its key, its identity token), so forwarding allocates no
  // options or closures per request.
  const rewriteRequestHeaders = (req: FastifyRequest, headers: Record<string, unknown>) => {
    const key = req.apiKey
    const identity: Identity | null =
      key === null
        ? null
        : {
            keyId: key.id,
            ownerId: key.ownerId,
            scopes: key.scopes,
            token: req[IDENTITY_TOKEN]!,
          }
    return upstreamHeaders(
      headers as Parameters<typeof upstreamHeaders>[0],
      req.raw,
      identity,
      trustedProxies,
      https,
    )
  }
  const fromOptions = new Map(
    config.upstreams.map((upstream) => [
      upstream,
      {
        // apart from the source, whose check for ".." would read the query too
        queryString: queryOf,
        timeout: upstream.timeoutMs,
        retryDelay: noRetry,
        rewriteRequestHeaders,
        rewriteHeaders: clientHeaders,
        onError: answerUpstreamError,
      } as unknown as FromOptions,
    ]),
  )

  function send(request: FastifyRequest, reply: FastifyReply, m: ForwardMatch): void {
    try {
      reply.from(m.upstream.url + m.path, fromOptions.get(m.upstream))
    } catch (error) {
      // reply-from refuses some paths its URL check reads as ".." (e.g. "/..foo")
      request.log.warn({ err: error }, 'reply-from refused the forwarded URL')
      sendProblem(
        reply,
        problem(
          'invalid_request',
          'The path cannot be forwarded: rename its segments that start with "..".',
        ),
      )
    }
  }

  /**
   * Forwards the request. Synchronous while the key's identity token is reused (the usual
   * case): a handler that returns nothing costs Fastify no promise; reply-from answers later.
   */
  function forward(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply> | undefined {
    const m = proxyMatchOf(request)
    if (m?.kind !== 'forward') {
      refuse(request, reply)
      return
    }
    if (isWebSocket(request)) {
      sendProblem(
        reply,
        problem(
          'websocket_not_supported',
          'keyward does not forward WebSocket connections: a connection outlives the revocation of its key. Call the upstream over plain HTTP requests.',
        ),
      )
      return
    }
    const key = request.apiKey
    if (key === null) {
      // the adapter lets CORS preflights through without a key; they go no further
      if (m.rule?.public !== true)
        sendProblem(
          reply,
          problem(
            'route_not_allowed',
            'CORS preflight requests are not forwarded without an API key: call this API from a server, or make the route public in "routes".',
          ),
        )
      else send(request, reply, m)
      return
    }
    const token = tokens.tokenFor(key, m.upstream.url)
    if (typeof token === 'string') {
      request[IDENTITY_TOKEN] = token
      send(request, reply, m)
      return
    }
    return token.then((signed) => {
      request[IDENTITY_TOKEN] = signed
      send(request, reply, m)
      return reply
    })
  }

  for (const route of table.routes) {
    app.route({
      method: [...PROXY_METHODS],
      url: '/*',
      constraints: { [CONSTRAINT]: route.name },
      // the upstream's API, not keyward's: not in /openapi.json
      schema: { hide: true },
      // a public rule and a path with no normal form are answered without a key
      config: {
        keyward:
          route.rule?.public === true || route.name === 'bad'
            ? false
            : route.rule === null
              ? {}
              : { scopes: route.rule.scopes, usageTag: ruleTag(route.rule, route.name) },
      },
      handler: route.forwards ? forward : (request, reply) => refuse(request, reply),
    })
  }
}
