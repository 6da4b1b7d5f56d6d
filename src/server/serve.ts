// `keyward serve` as a module: opens the limiter, the store and keyward, builds the service,
// listens, creates the bootstrap admin key, and drains on SIGTERM/SIGINT. The CLI command is a
// thin wrapper around `startService`.
import type { Server as HttpsServer } from 'node:https'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { keywardRedactPaths, redactRequest } from '../http/redact.js'
import { type OpenedKeyward, openKeyward } from '../open/open-keyward.js'
import { describeError } from '../open/describe-error.js'
import { createService, SERVICE_IMPLIED_SCOPES } from './app.js'
import { bootstrapAdminKey, bootstrapMessage } from './bootstrap.js'
import { openServiceLimiter, type ServiceLimiter } from './limiter.js'
import { startAuditPruning } from './audit-retention.js'
import type { ServeSettings } from './settings.js'
import { loadTlsFiles } from './tls.js'
import { createTokenSigner, type TokenSigner } from '../tokens/signer.js'

/** Where `startService` writes and what it reads. */
export interface StartServiceOptions {
  /** JSON logs, one line per request. */
  stdout: { write(chunk: string): unknown }
  /** The start-up line, warnings and the bootstrap admin key: for the operator, never logs. */
  stderr: { write(chunk: string): unknown }
  /** For the pepper (`KEYWARD_PEPPER`, `KEYWARD_PEPPER_FILE`, `NODE_ENV`). */
  env: Readonly<Record<string, string | undefined>>
  cwd: string
  /** The version shown in /openapi.json and the logs. */
  version: string
  /** Drain on SIGTERM/SIGINT and reload the certificate on SIGHUP. Default true. */
  signals?: boolean
}

/** A listening service. */
export interface RunningService {
  /** `http://127.0.0.1:8080`, with the port actually bound. */
  readonly url: string
  readonly app: FastifyInstance
  /** Resolves once the service has stopped (after a signal or `stop()`). */
  readonly stopped: Promise<void>
  /**
   * Drains: no new connections, in-flight requests finish (bounded by `drainTimeout`), then
   * usage is flushed and the store and Redis are closed. A second call during the drain
   * closes the remaining connections at once.
   */
  stop(reason?: string): Promise<void>
  /** Reads the certificate files again; on failure keeps the current certificate. */
  reloadTls(): boolean
}

/** The service could not listen (port in use, no permission, unknown address). */
export class ListenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ListenError'
  }
}

function listenFailure(error: unknown, host: string, port: number): ListenError {
  const code = (error as { code?: unknown } | null)?.code
  const why =
    code === 'EADDRINUSE'
      ? 'the port is already in use: stop the program holding it, or choose another port with --port (0 picks a free one)'
      : code === 'EACCES'
        ? 'permission denied: ports below 1024 need privileges, use --port 1024 or above'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
          ? `${host} is not an address of this machine: use --host with one of its addresses (default 127.0.0.1)`
          : describeError(error)
  return new ListenError(`cannot listen on ${host}:${port}: ${why}`, { cause: error })
}

function urlOf(app: FastifyInstance, https: boolean, host: string): string {
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const shownHost = host.includes(':') ? `[${host}]` : host
  return `${https ? 'https' : 'http'}://${shownHost}:${port}`
}

/**
 * Starts `keyward serve` with resolved settings and returns once it listens.
 *
 * @example
 * const running = await startService(resolveSettings({ flags: {}, env: process.env, cwd: process.cwd() }),
 *   { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), version: '1.0.0' })
 * await running.stopped
 * @throws KeywardError (the store, the pepper, a missing ioredis) or ListenError
 */
export async function startService(
  settings: ServeSettings,
  options: StartServiceOptions,
): Promise<RunningService> {
  const { stdout, stderr } = options
  const say = (line: string) => stderr.write(`keyward: ${line}\n`)
  const log = pino(
    {
      level: settings.logLevel,
      base: { service: 'keyward' },
      // a second guard: whatever logs a request object, its credentials are redacted
      serializers: { req: redactRequest, err: pino.stdSerializers.err },
      redact: [...keywardRedactPaths],
    },
    { write: (line: string) => stdout.write(line) },
  )

  // handlers go in first: a signal during start-up stops the service once it has started,
  // instead of killing the process halfway through opening the store
  let pendingStop: string | null = null
  let stop: (reason?: string) => Promise<void> = async (reason = 'stop') => {
    pendingStop = reason
  }
  let reloadTls = (): boolean => false
  const onSignal = (signal: NodeJS.Signals) => void stop(signal)
  const onHup = () => void reloadTls()
  const signals = options.signals ?? true
  function removeSignals(): void {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    process.off('SIGHUP', onHup)
  }
  if (signals) {
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    process.on('SIGHUP', onHup)
  }

  let limits: ServiceLimiter
  let opened: OpenedKeyward
  let created: FastifyInstance | undefined
  let signer: TokenSigner | undefined
  let url = ''
  try {
    limits = await openServiceLimiter(settings, log)
    try {
      opened = await openKeyward({
        databaseUrl: settings.database,
        env: options.env,
        cwd: options.cwd,
        warn: (message) => stderr.write(`${message}\n`),
        // changes travel over the database, and over the limiter's Redis when there is one
        // (set by --redis as well as KEYWARD_REDIS_URL; one client for both)
        changes:
          limits.redis === null
            ? {}
            : { redis: limits.redis, redisKeyPrefix: settings.redisPrefix },
        keyward: {
          impliedScopes: SERVICE_IMPLIED_SCOPES,
          limits: { limiter: limits.limiter },
          usage: { maxCells: settings.usageMaxCells },
          onError: (error) => log.error({ err: error }, 'background work failed (usage flush)'),
        },
      })
    } catch (error) {
      await limits.close()
      throw error
    }
    try {
      signer = await createTokenSigner({
        store: opened.store,
        secrets: opened.signingSecrets,
        // the URL is known once listening (port 0 picks one)
        issuer: () => settings.publicUrl ?? url,
        onReloadError: (error) =>
          log.error(
            { err: error },
            'reloading the token signing keys failed; keeping the loaded ones',
          ),
      })
      created = await createService({
        keyward: opened.keyward,
        signer,
        logger: log,
        limits: settings.limits,
        ...(settings.tls ? { tls: { cert: settings.tls.cert, key: settings.tls.key } } : {}),
        trustedProxies: settings.trustedProxies,
        ...(settings.metricsScope === null ? {} : { metricsScope: settings.metricsScope }),
        tokens: {
          lifetimeSec: settings.tokenLifetime,
          ...(settings.tokenAudiences.length === 0 ? {} : { audiences: settings.tokenAudiences }),
        },
        readiness: limits.readiness,
        version: options.version,
        ...(settings.proxy === null ? {} : { proxy: settings.proxy }),
        usage: {
          minuteRowsForMs: settings.usageMinutesFor,
          retentionMs: settings.usageRetention,
        },
        dashboard: {
          // the browser reaches it over HTTPS: here, through the proxy, or at the public URL
          secureCookies:
            settings.tls !== null ||
            settings.behindTlsProxy ||
            settings.publicUrl?.startsWith('https:') === true,
          sessionIdleMs: settings.dashboardSessionIdle,
          sessionMaxMs: settings.dashboardSessionMax,
        },
      })
      await created.listen({ port: settings.port, host: settings.host })
    } catch (error) {
      await created?.close().catch(() => {})
      signer?.close()
      await opened.close().catch(() => {})
      await limits.close().catch(() => {})
      const code = (error as { code?: unknown } | null)?.code
      if (typeof code === 'string' && /^E[A-Z]+$/.test(code))
        throw listenFailure(error, settings.host, settings.port)
      throw error
    }
  } catch (error) {
    removeSignals()
    throw error
  }

  const app = created
  url = urlOf(app, settings.tls !== null, settings.host)
  const tokens = signer!
  const pruning =
    settings.auditRetention === null
      ? null
      : startAuditPruning({
          audit: opened.keyward.audit,
          retentionMs: settings.auditRetention,
          onPruned: (deleted) =>
            log.info({ deleted, retention: settings.auditRetention }, 'pruned old audit events'),
          onError: (error) => log.error({ err: error }, 'pruning old audit events failed'),
        })

  let resolveStopped!: () => void
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve
  })
  let draining: Promise<void> | null = null

  reloadTls = () => {
    if (settings.tlsCert === null || settings.tlsKey === null) {
      log.warn('SIGHUP: HTTPS is off, there is no certificate to reload')
      return false
    }
    try {
      const files = loadTlsFiles(settings.tlsCert, settings.tlsKey)
      ;(app.server as HttpsServer).setSecureContext({ cert: files.cert, key: files.key })
      log.info({ subject: files.subject, validTo: files.validTo }, 'reloaded the TLS certificate')
      return true
    } catch (error) {
      log.error(
        { reason: describeError(error) },
        'kept the previous TLS certificate: the new files cannot be used',
      )
      return false
    }
  }

  async function drain(reason: string): Promise<void> {
    const closing = app.close()
    // Fastify closes the listening socket a few turns later, after its preClose hooks
    while (app.server.listening) await new Promise((resolve) => setImmediate(resolve))
    log.info(
      { reason, drainTimeoutMs: settings.drainTimeout },
      'draining: no new connections, in-flight requests may finish',
    )
    const timer = setTimeout(() => {
      log.warn('drain timeout: closing the connections still open')
      app.server.closeAllConnections()
    }, settings.drainTimeout)
    try {
      await closing
    } finally {
      clearTimeout(timer)
    }
    tokens.close()
    await pruning?.stop()
    try {
      // flushes batched usage and denial events, then closes the store
      await opened.close()
    } catch (error) {
      log.error({ err: error }, 'closing the store failed; usage since the last flush may be lost')
    }
    await limits.close().catch((error) => log.error({ err: error }, 'closing Redis failed'))
    log.info('stopped')
  }

  stop = (reason = 'stop') => {
    if (draining !== null) {
      log.warn({ reason }, 'stopping now: closing the connections still open')
      app.server.closeAllConnections()
      return draining
    }
    draining = drain(reason).finally(() => {
      removeSignals()
      resolveStopped()
    })
    return draining
  }

  const database = `${opened.target.kind} ${opened.target.display}`
  const upstreams = settings.proxy?.upstreams.map((u) => `${u.prefix} -> ${u.url}`)
  log.info(
    { url, database, rateLimits: limits.description, ...(upstreams ? { upstreams } : {}) },
    'listening',
  )
  if (!limits.reachable) {
    say(
      settings.redisFailurePolicy === 'degrade'
        ? 'Redis is unreachable: each node counts rate limits in memory until it returns; /readyz answers 503 meanwhile'
        : 'Redis is unreachable: keys with rate limits or quotas get 503 (fail-closed) until it returns; /readyz answers 503 meanwhile',
    )
  }
  if (settings.tls) {
    log.info({ subject: settings.tls.subject, validTo: settings.tls.validTo }, 'TLS certificate')
    if (settings.tls.validTo.getTime() < Date.now())
      say(
        `the TLS certificate expired on ${settings.tls.validTo.toISOString()}: replace it and send SIGHUP`,
      )
  }
  try {
    const result = await bootstrapAdminKey(opened.keyward)
    if (result.created) {
      stderr.write(bootstrapMessage(result.key, result.record, url))
      log.info(
        { keyId: result.record.id },
        'created the bootstrap admin key (shown once on stderr)',
      )
    }
  } catch (error) {
    // the store may be down at this moment; the next start decides again
    log.error({ err: error }, 'could not check or create the bootstrap admin key')
    say(`could not check for an admin key (${describeError(error)}); the next start tries again`)
  }
  // the last line of start-up: whoever waits for it finds the service ready
  if (settings.proxy !== null) {
    const rules = settings.proxy.rules
    say(
      `forwarding ${upstreams!.join(', ')}; ${rules === null ? 'no route rules: any valid key may call any path' : `${rules.length} route rule${rules.length === 1 ? '' : 's'}, other paths refused`}`,
    )
  }
  say(`listening on ${url} (keys in ${database}, rate limits ${limits.description})`)
  if (pendingStop !== null) void stop(pendingStop)
  return { url, app, stopped, stop: (reason) => stop(reason), reloadTls: () => reloadTls() }
}
