// The service as a Fastify app: limits and timeouts, problem+json for every error, the admin
// authentication (the project's own Fastify adapter) and the routes. `keyward serve` builds it
// with `createService` and listens; tests build it the same way.
import { createServer as createHttpServer, type Server, type ServerOptions } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyHttpOptions,
  type FastifyInstance,
  LogController,
} from 'fastify'
import type { Keyward } from '../core/keyward.js'
import type { TokenSigner } from '../tokens/signer.js'
import { keywardFastify } from '../http/fastify/index.js'
import type { DeniedEvent, FailedAuthOptions } from '../http/options.js'
import { problem, problemFor, rawProblem, sendProblem } from './problems.js'
import { registerOpenApi } from './openapi.js'
import { createServiceMetrics } from './metrics.js'
import { logRequest, logRequestStart } from './request-log.js'
import { healthRoutes, type ReadinessCheck } from './routes/health.js'
import { metricsRoutes } from './routes/metrics.js'
import { jwksRoutes } from './routes/jwks.js'
import { keyRoutes } from './routes/keys.js'
import { roleRoutes } from './routes/roles.js'
import { tokenRoutes } from './routes/token.js'
import { verifyRoutes } from './routes/verify.js'
import { acceptTokens, type CredentialVerifier } from '../tokens/accept.js'
import { DEFAULT_ACCESS_TOKEN_LIFETIME_SEC } from '../tokens/limits.js'
import { createRevocationList } from '../tokens/revocations.js'

/** The scopes of the admin API, and what the `admin` scope grants (all of them). */
export const ADMIN_SCOPES = Object.freeze([
  'keys:read',
  'keys:write',
  'keys:verify',
  'roles:write',
  'audit:read',
] as const)

/**
 * Pass to `createKeyward` (or `openKeyward`'s `keyward` options) for the service's keyward:
 * a key holding `admin` may call every admin route.
 */
export const SERVICE_IMPLIED_SCOPES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  admin: ADMIN_SCOPES,
})

/** Request limits and timeouts; every default is on, so a slow or huge client is dropped. */
export interface ServiceLimits {
  /** Largest request body. Default 64 KiB. */
  bodyBytes?: number
  /** Largest total size of the request line and headers. Default 16 KiB (Node's). */
  headerBytes?: number
  /** Headers counted per request; more are refused with 431. Default 100. */
  headersCount?: number
  /** Time to receive the headers (slow-loris clients are dropped). Default 10 s. */
  headersTimeoutMs?: number
  /** Time to receive the whole request. Default 30 s. */
  requestTimeoutMs?: number
  /** Idle time of a kept-alive connection. Default 5 s. */
  keepAliveTimeoutMs?: number
}

export interface ServiceOptions {
  /** The service's keyward, created with `impliedScopes: SERVICE_IMPLIED_SCOPES`. */
  keyward: Keyward
  /** A pino logger: one line per request (see request-log.ts) and errors; default: no logs. */
  logger?: FastifyBaseLogger
  limits?: ServiceLimits
  /** PEM key and certificate: serve HTTPS (with HSTS) instead of HTTP. */
  tls?: { key: string | Buffer; cert: string | Buffer }
  /** Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges). */
  trustedProxies?: readonly string[]
  /** The failed-auth limiter of admin and verify calls. Default 20 bad keys a minute per client. */
  failedAuth?: FailedAuthOptions
  /** What `/readyz` checks besides the store, e.g. Redis. */
  readiness?: readonly ReadinessCheck[]
  /** Called for every denied request (metrics, logs). */
  onDenied?: (event: DeniedEvent) => void
  /**
   * Signs keyward's JWTs. When given, `GET /.well-known/jwks.json` publishes its public keys,
   * `POST /oauth/token` trades API keys for access tokens, and every authenticated route
   * accepts those tokens (audience: the signer's issuer) as well as keys.
   */
  signer?: TokenSigner
  /** The token endpoint's settings (with `signer`). */
  tokens?: ServiceTokenOptions
  /** The version shown in /openapi.json and in the `keyward_build_info` metric. */
  version?: string
  /**
   * A scope `GET /metrics` requires (e.g. `metrics:read`); default none: /metrics is open like
   * /healthz. `admin` does not imply it: give the scraper a key of its own.
   */
  metricsScope?: string
}

/** How the service issues access tokens. */
export interface ServiceTokenOptions {
  /**
   * Audiences (`aud`) a token may be asked for (`audience=` / `resource=`); the first is given
   * when none is asked. Default: the signer's issuer (this service's URL) alone.
   */
  audiences?: readonly string[]
  /** Access token lifetime, 1-3600 s (shortened to the key's own expiry). Default 300. */
  lifetimeSec?: number
}

const KIB = 1024

/** The defaults of `ServiceLimits` (also shown by `keyward serve --help` and the README). */
export const DEFAULT_SERVICE_LIMITS: Readonly<Required<ServiceLimits>> = Object.freeze({
  bodyBytes: 64 * KIB,
  headerBytes: 16 * KIB,
  headersCount: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
})

/** Methods of routes by path pattern, to answer 405 with `Allow` instead of 404. */
class MethodTable {
  private readonly routes: { re: RegExp; methods: Set<string> }[] = []

  add(url: string, methods: readonly string[]): void {
    const source = url
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
    const existing = this.routes.find((r) => r.re.source === `^${source}$`)
    if (existing) for (const m of methods) existing.methods.add(m)
    else this.routes.push({ re: new RegExp(`^${source}$`), methods: new Set(methods) })
  }

  allowed(path: string): string[] {
    const out = new Set<string>()
    for (const r of this.routes) if (r.re.test(path)) for (const m of r.methods) out.add(m)
    return [...out]
  }
}

/**
 * Builds the service (not yet listening): admin API, verify API, health. Close it with
 * `app.close()`; it does not close the keyward or its store, which the caller owns.
 *
 * @example
 * const app = await createService({ keyward })
 * await app.listen({ port: 8080, host: '127.0.0.1' })
 */
export async function createService(options: ServiceOptions): Promise<FastifyInstance> {
  const limits = { ...DEFAULT_SERVICE_LIMITS, ...options.limits }
  const headersCount = limits.headersCount
  const httpOptions: ServerOptions = {
    maxHeaderSize: limits.headerBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  }
  const tls = options.tls
  const fastifyOptions: FastifyHttpOptions<Server> = {
    bodyLimit: limits.bodyBytes,
    // the ids in paths are short; a long parameter is a probe
    routerOptions: { maxParamLength: 200 },
    // unknown fields and wrong types are refused, never dropped or converted
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // draining is answered below, as problem+json
    return503OnClosing: false,
    serverFactory: (handler) => {
      const server: Server = tls
        ? createHttpsServer({ ...httpOptions, key: tls.key, cert: tls.cert }, handler)
        : createHttpServer(httpOptions, handler)
      // Node silently drops headers past maxHeadersCount; the adapter refuses such requests
      server.maxHeadersCount = headersCount
      return server
    },
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => {
      if (!socket.writable) {
        socket.destroy()
        return
      }
      const p =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? problem(
              'headers_too_large',
              'The request headers are larger than this service accepts: send fewer or smaller headers.',
            )
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? problem('request_timeout', 'The request took too long to arrive: send it again.')
            : problem('invalid_request', 'The request is not valid HTTP/1.1.')
      socket.end(rawProblem(p))
    },
    // a URL that cannot be decoded, e.g. /v1/keys/%E0
    frameworkErrors: (error, _request, reply) => {
      sendProblem(
        reply,
        error.code === 'FST_ERR_BAD_URL'
          ? problem('not_found', 'The path is not valid: check its percent-encoding.')
          : problemFor(error),
      )
    },
  }
  if (options.logger !== undefined) {
    fastifyOptions.loggerInstance = options.logger
    // one line per request, written by logRequest, instead of Fastify's two
    fastifyOptions.logController = new LogController({ disableRequestLogging: true })
  }
  const app: FastifyInstance = Fastify(fastifyOptions)
  // While app.close() drains, a request that arrives is refused (503, first of all hooks) and
  // every response closes its connection, so kept-alive clients leave after their last answer.
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done()
    sendProblem(
      reply,
      problem('service_unavailable', 'The service is shutting down: send the request again.'),
    )
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
  if (options.logger !== undefined) {
    // arrivals are logged at trace level only; below it, no hook costs a request anything
    if (options.logger.level === 'trace') app.addHook('onRequest', logRequestStart)
    app.addHook('onResponse', logRequest)
  }
  // JSON only: any other body type is 415. An empty body is no body (a DELETE sent with a
  // JSON content type by habit), left to the route's schema to require one.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: limits.bodyBytes },
    (request, body, done) => {
      const text = body.toString()
      if (text === '') done(null, undefined)
      else parseJson(request, text, done)
    },
  )

  if (tls) {
    app.addHook('onSend', (_request, reply, payload, done) => {
      reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains')
      done(null, payload)
    })
  }

  const methods = new MethodTable()
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/')) {
      methods.add(route.url, Array.isArray(route.method) ? route.method : [route.method])
    }
  })

  app.setErrorHandler((error, request, reply) => {
    const p = problemFor(error)
    if (p.status >= 500 && p.body.code === 'internal_error') request.log.error({ err: error })
    sendProblem(reply, p)
  })
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/'
    const allowed = methods.allowed(path)
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '))
      sendProblem(
        reply,
        problem(
          'method_not_allowed',
          `${request.method} is not allowed on ${path}: use ${allowed.join(', ')}.`,
        ),
      )
      return
    }
    sendProblem(
      reply,
      problem('not_found', 'There is no such route: see GET /openapi.json for the API.'),
    )
  })

  // before any route: every route is counted
  const metrics = createServiceMetrics({
    keyward: options.keyward,
    version: options.version ?? '0.0.0',
  })
  metrics.attach(app)
  await registerOpenApi(app, options.version ?? '0.0.0')
  // one object: the token endpoint's bad secrets count with every other route's bad keys
  const failedAuth = options.failedAuth ?? { limit: 20, windowMs: 60_000 }
  const signer = options.signer
  let verifier: CredentialVerifier = options.keyward
  if (signer !== undefined) {
    // tokens issued here, for here: checked against the signer's own keys, no fetch
    const revocations = createRevocationList({ changes: options.keyward })
    app.addHook('onClose', async () => revocations.close())
    verifier = acceptTokens({
      keyward: options.keyward,
      jwks: () => signer.jwks(),
      issuer: () => signer.issuer(),
      audience: () => signer.issuer(),
      impliedScopes: SERVICE_IMPLIED_SCOPES,
      revocations,
    })
  }
  const onDenied = options.onDenied
    ? { onDenied: (event: DeniedEvent) => options.onDenied!(event) }
    : {}
  const trustedProxies = options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}
  await app.register(keywardFastify, {
    keyward: verifier,
    failedAuth,
    ...trustedProxies,
    ...onDenied,
  })
  await app.register(healthRoutes, {
    keyward: options.keyward,
    checks: options.readiness ?? [],
  })
  await app.register(metricsRoutes, {
    metrics,
    ...(options.metricsScope === undefined ? {} : { scope: options.metricsScope }),
  })
  if (signer !== undefined) {
    await app.register(jwksRoutes, { signer })
    const audiences = options.tokens?.audiences
    await app.register(tokenRoutes, {
      keyward: options.keyward,
      signer,
      audiences: audiences === undefined ? () => [signer.issuer()] : () => audiences,
      lifetimeSec: options.tokens?.lifetimeSec ?? DEFAULT_ACCESS_TOKEN_LIFETIME_SEC,
      failedAuth,
      ...trustedProxies,
      ...onDenied,
    })
  }
  await app.register(keyRoutes, { keyward: options.keyward })
  await app.register(verifyRoutes, { keyward: options.keyward })
  await app.register(roleRoutes, { keyward: options.keyward })
  return app
}
