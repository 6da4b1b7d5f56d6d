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
import { type Clock, systemClock } from '../core/clock.js'
import { KeywardError } from '../core/errors.js'
import type { Keyward } from '../core/keyward.js'
import { UsageRetention } from '../core/usage-retention.js'
import { keywardFastify } from '../http/fastify/index.js'
import type { DeniedEvent, FailedAuthOptions } from '../http/options.js'
import { trustProxies } from '../limits/client-ip.js'
import { acceptTokens, type CredentialVerifier } from '../tokens/accept.js'
import { DEFAULT_ACCESS_TOKEN_LIFETIME_SEC } from '../tokens/limits.js'
import { createRevocationList } from '../tokens/revocations.js'
import type { TokenSigner } from '../tokens/signer.js'
import { MethodTable } from './method-table.js'
import { createServiceMetrics } from './metrics.js'
import { registerOpenApi } from './openapi.js'
import { problem, problemFor, rawProblem, sendProblem } from './problems.js'
import type { ProxyConfig } from './proxy/config.js'
import { proxyCost, proxyRoutes } from './proxy/routes.js'
import { logRequest, logRequestStart } from './request-log.js'
import { auditRoutes } from './routes/audit.js'
import { DEFAULT_DASHBOARD_DIR, dashboardRoutes } from './routes/dashboard.js'
import { healthRoutes, type ReadinessCheck } from './routes/health.js'
import { jwksRoutes } from './routes/jwks.js'
import { keyRoutes } from './routes/keys.js'
import { metricsRoutes } from './routes/metrics.js'
import { policyRoutes } from './routes/policy.js'
import { roleRoutes } from './routes/roles.js'
import { sessionRoutes } from './routes/session.js'
import { tokenRoutes } from './routes/token.js'
import { usageRoutes } from './routes/usage.js'
import { verifyRoutes } from './routes/verify.js'
import { sessionAuthentication, sessionCookieName } from './session-auth.js'
import { SessionStore } from './sessions.js'

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

/** The web dashboard at /dashboard and its sessions. */
export interface DashboardOptions {
  /**
   * Mark the session cookie `Secure` (and name it `__Host-…`). Default: on with `tls`; set it
   * behind a TLS-terminating proxy.
   */
  secureCookies?: boolean
  /** A session unused this long ends. Default 30 minutes. */
  sessionIdleMs?: number
  /** A session ends this long after sign-in. Default 8 hours. */
  sessionMaxMs?: number
  /** The built files. Default: dist/dashboard of this package. */
  dir?: string
  /** Where sessions read the time (tests). */
  clock?: Clock
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
  /**
   * Forward every path the service does not serve itself to these upstreams, authenticated
   * (see docs/proxy.md). Needs `signer`: each request carries a signed X-Keyward-Token.
   */
  proxy?: ProxyConfig
  /** The dashboard's settings, or `false`: no /dashboard and no sessions. Default on. */
  dashboard?: DashboardOptions | false
  /** How long usage rows are kept (roll-up and pruning run in the background while it serves). */
  usage?: ServiceUsageOptions
}

/** Ages of usage rows: see `UsageRetention`. */
export interface ServiceUsageOptions {
  /** Minute rows older than this are rolled up into hour rows. Default 48 hours. */
  minuteRowsForMs?: number
  /** Usage rows older than this are deleted. Default 90 days. */
  retentionMs?: number
  /** Where the ages are counted from (tests). */
  clock?: Clock
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

/** Usage rows: minutes for 48 hours, then hours until 90 days. */
export const DEFAULT_USAGE_MINUTE_ROWS_MS = 48 * 3_600_000
export const DEFAULT_USAGE_RETENTION_MS = 90 * 86_400_000

/** The defaults of `ServiceLimits` (also shown by `keyward serve --help` and the README). */
export const DEFAULT_SERVICE_LIMITS: Readonly<Required<ServiceLimits>> = Object.freeze({
  bodyBytes: 64 * KIB,
  headerBytes: 16 * KIB,
  headersCount: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
})

/**
 * Builds the service (not yet listening): admin API, verify API, health. Close it with
 * `app.close()`; it does not close the keyward or its store, which the caller owns.
 *
 * @example
 * const app = await createService({ keyward })
 * await app.listen({ port: 8080, host: '127.0.0.1' })
 */
export async function createService(options: ServiceOptions): Promise<FastifyInstance> {
  const proxy = options.proxy
  if (proxy !== undefined && options.signer === undefined)
    throw new KeywardError(
      'invalid_options',
      '"proxy" needs "signer": every forwarded request carries a signed X-Keyward-Token',
    )
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
      // an upstream behind the proxy may set its own
      if (!reply.hasHeader('strict-transport-security'))
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
  const onDenied = options.onDenied
    ? { onDenied: (event: DeniedEvent) => options.onDenied!(event) }
    : {}
  const trustedProxies = options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}
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
  const dashboard = options.dashboard === false ? null : (options.dashboard ?? {})
  const secureCookies = dashboard?.secureCookies ?? tls !== undefined
  const cookieName = sessionCookieName(secureCookies)
  const sessions =
    dashboard === null
      ? null
      : new SessionStore({
          idleMs: dashboard.sessionIdleMs ?? 30 * 60_000,
          maxMs: dashboard.sessionMaxMs ?? 8 * 3_600_000,
          clock: dashboard.clock ?? systemClock,
        })
  // a session authenticates through the adapter too: see session-auth.ts
  const sessionAuth =
    sessions === null
      ? null
      : sessionAuthentication(options.keyward, sessions, cookieName, verifier)
  if (sessionAuth !== null) {
    app.decorateRequest('dashboardSession', null)
    app.addHook('onRequest', sessionAuth.onRequest)
  }
  await app.register(keywardFastify, {
    keyward: sessionAuth?.verifier ?? verifier,
    ...(sessionAuth === null ? {} : { getCredential: sessionAuth.getCredential }),
    failedAuth,
    ...trustedProxies,
    ...onDenied,
    // a route rule's cost; other requests cost 1, as without the option
    ...(proxy?.rules?.some((rule) => rule.cost !== 1) ? { cost: proxyCost } : {}),
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
  // admin changes record the client address the way the failed-auth limiter reads it
  const trusted =
    options.trustedProxies === undefined || options.trustedProxies.length === 0
      ? null
      : trustProxies(options.trustedProxies)
  await app.register(keyRoutes, { keyward: options.keyward, trustedProxies: trusted })
  await app.register(verifyRoutes, { keyward: options.keyward })
  await app.register(roleRoutes, { keyward: options.keyward, trustedProxies: trusted })
  await app.register(auditRoutes, { keyward: options.keyward })
  await app.register(policyRoutes, { keyward: options.keyward, trustedProxies: trusted })
  await app.register(usageRoutes, { keyward: options.keyward })
  const retention = new UsageRetention({
    store: options.keyward.store,
    clock: options.usage?.clock ?? systemClock,
    minuteRowsForMs: options.usage?.minuteRowsForMs ?? DEFAULT_USAGE_MINUTE_ROWS_MS,
    retentionMs: options.usage?.retentionMs ?? DEFAULT_USAGE_RETENTION_MS,
    onError: (error) => app.log.error({ err: error }, 'usage roll-up or pruning failed'),
  })
  retention.start()
  app.addHook('onClose', () => retention.stop())
  if (dashboard !== null && sessions !== null) {
    await app.register(sessionRoutes, { sessions, cookieName, secureCookies })
    await app.register(dashboardRoutes, { dir: dashboard.dir ?? DEFAULT_DASHBOARD_DIR })
  }
  // last: the service's own paths are known by now and stay its own
  if (proxy !== undefined) {
    await app.register(proxyRoutes, {
      config: proxy,
      signer: options.signer!,
      ownMethods: (path) => methods.allowed(path),
      isOwn: (path) => methods.serves(path),
      trustedProxies:
        options.trustedProxies === undefined || options.trustedProxies.length === 0
          ? null
          : trustProxies(options.trustedProxies),
      https: tls !== undefined,
    })
  }
  return app
}
