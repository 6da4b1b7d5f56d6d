// The settings of `keyward serve`, stated once: each has a flag, an environment variable, a key
// in the JSON config file, a type, a default and a description. The table drives parsing
// (settings.ts), error lines, `keyward serve --help` and the README's configuration reference.
import { formatDuration } from '../core/duration.js'
import type { RedisFailurePolicy } from '../limits/redis.js'
import { DEFAULT_DATABASE_URL } from '../open/database-url.js'
import { DEFAULT_ACCESS_TOKEN_LIFETIME_SEC, MAX_TOKEN_LIFETIME_SEC } from '../tokens/limits.js'
import {
  DEFAULT_SERVICE_LIMITS,
  DEFAULT_USAGE_MINUTE_ROWS_MS,
  DEFAULT_USAGE_RETENTION_MS,
} from './app.js'
import {
  audienceList,
  boolean,
  databaseUrl,
  duration,
  filePath,
  httpUrlOrNone,
  integer,
  type Kind,
  matching,
  oneOf,
  proxyList,
  redisUrl,
  retentionOrNone,
  scopeOrNone,
  secondsBetween,
  upstreamUrlOrNone,
} from './setting-kinds.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** A duration in hours or days, as ages of stored rows are written. */
const age: Kind<number> = {
  ...duration,
  allowed: 'a whole number and a unit (m, h, d, w), e.g. "48h" or "90d"',
  format: formatDuration,
}

/** One row of the table. */
export interface Setting<T> {
  /** `--port <number>`; a repeatable flag takes one value each time. */
  readonly flag: string
  readonly repeat?: boolean
  readonly env: string
  readonly kind: Kind<T>
  readonly default: T
  /** The default as the reference shows it, when `kind.format` is not enough. */
  readonly defaultText?: string
  readonly description: string
}

function setting<T>(row: Setting<T>): Setting<T> {
  return row
}

/** Every setting of `keyward serve`; the key is its name in the config file. */
export const SETTINGS = {
  port: setting({
    flag: '--port <number>',
    env: 'PORT',
    kind: integer(0, 65_535),
    default: 8080,
    description: 'TCP port to listen on (0 picks a free one)',
  }),
  host: setting({
    flag: '--host <address>',
    env: 'KEYWARD_HOST',
    kind: matching(
      /^[A-Za-z0-9.:%_-]{1,253}$/,
      'an IP address or host name, e.g. 127.0.0.1 or 0.0.0.0',
    ),
    default: '127.0.0.1',
    description:
      'address to listen on; on an address other than loopback, plain HTTP needs --behind-tls-proxy',
  }),
  database: setting({
    flag: '--db <url>',
    env: 'KEYWARD_DATABASE_URL',
    kind: databaseUrl,
    default: DEFAULT_DATABASE_URL,
    description: 'where keys are stored: an SQLite file (created if missing) or PostgreSQL',
  }),
  redis: setting<string | null>({
    flag: '--redis <url>',
    env: 'KEYWARD_REDIS_URL',
    kind: redisUrl,
    default: null,
    defaultText: 'none (limits counted in memory)',
    description:
      'Redis for rate limits and quotas shared by every node (needs the ioredis package)',
  }),
  redisPrefix: setting({
    flag: '--redis-prefix <name>',
    env: 'KEYWARD_REDIS_PREFIX',
    kind: matching(
      /^[A-Za-z_][A-Za-z0-9_]{0,63}$/,
      'letters, digits and "_", starting with a letter or "_", at most 64 characters',
    ),
    default: 'keyward',
    description: 'prefix of the Redis keys keyward writes',
  }),
  redisFailurePolicy: setting<RedisFailurePolicy>({
    flag: '--redis-failure-policy <policy>',
    env: 'KEYWARD_REDIS_FAILURE_POLICY',
    kind: oneOf<RedisFailurePolicy>(['degrade', 'fail-closed']),
    default: 'degrade',
    description:
      'while Redis is unreachable: "degrade" counts limits in memory per node, "fail-closed" answers 503 to keys that have limits',
  }),
  tlsCert: setting<string | null>({
    flag: '--tls-cert <file>',
    env: 'KEYWARD_TLS_CERT',
    kind: filePath,
    default: null,
    defaultText: 'none (plain HTTP)',
    description: 'PEM certificate (chain): serve HTTPS; re-read on SIGHUP',
  }),
  tlsKey: setting<string | null>({
    flag: '--tls-key <file>',
    env: 'KEYWARD_TLS_KEY',
    kind: filePath,
    default: null,
    defaultText: 'none',
    description: 'PEM private key of the certificate; re-read on SIGHUP',
  }),
  behindTlsProxy: setting({
    flag: '--behind-tls-proxy',
    env: 'KEYWARD_BEHIND_TLS_PROXY',
    kind: boolean,
    default: false,
    description:
      'a TLS-terminating proxy is in front: allows plain HTTP on a non-loopback address (needs trusted proxies)',
  }),
  trustedProxies: setting<readonly string[]>({
    flag: '--trusted-proxy <cidr>',
    repeat: true,
    env: 'KEYWARD_TRUSTED_PROXIES',
    kind: proxyList,
    default: Object.freeze([]),
    description:
      'proxies whose X-Forwarded-For names the client (IP allowlists, failed-auth limiter)',
  }),
  publicUrl: setting<string | null>({
    flag: '--public-url <url>',
    env: 'KEYWARD_PUBLIC_URL',
    kind: httpUrlOrNone,
    default: null,
    defaultText: 'the URL it listens on',
    description:
      'the URL callers use to reach this service: the issuer (iss) of the tokens it signs; set it behind a proxy or load balancer, the same on every node',
  }),
  tokenLifetime: setting({
    flag: '--token-lifetime <duration>',
    env: 'KEYWARD_TOKEN_LIFETIME',
    kind: secondsBetween(1, MAX_TOKEN_LIFETIME_SEC),
    default: DEFAULT_ACCESS_TOKEN_LIFETIME_SEC,
    description:
      "lifetime of the access tokens POST /oauth/token issues (shortened to the key's own expiry)",
  }),
  tokenAudiences: setting<readonly string[]>({
    flag: '--token-audience <uri>',
    repeat: true,
    env: 'KEYWARD_TOKEN_AUDIENCES',
    kind: audienceList,
    default: Object.freeze([]),
    defaultText: 'the public URL (tokens for this service)',
    description:
      'audiences a token may be asked for (audience= or resource=): the services that accept them; the first is given when none is asked',
  }),
  metricsScope: setting<string | null>({
    flag: '--metrics-scope <scope>',
    env: 'KEYWARD_METRICS_SCOPE',
    kind: scopeOrNone,
    default: null,
    defaultText: 'none (/metrics is open, like /healthz)',
    description: 'the scope a key needs to read /metrics (admin does not imply it)',
  }),
  upstream: setting<string | null>({
    flag: '--upstream <url>',
    env: 'KEYWARD_UPSTREAM',
    kind: upstreamUrlOrNone,
    default: null,
    defaultText: 'none (no proxy)',
    description:
      'forward every path the service does not serve itself to this URL, authenticated, with the caller\'s identity (more upstreams and route rules: "upstreams" and "routes" in the config file)',
  }),
  upstreamTimeout: setting({
    flag: '--upstream-timeout <duration>',
    env: 'KEYWARD_UPSTREAM_TIMEOUT',
    kind: duration,
    default: 30_000,
    description:
      'how long an upstream may take to send its response headers, or pause within its body (then 504)',
  }),
  upstreamConnectTimeout: setting({
    flag: '--upstream-connect-timeout <duration>',
    env: 'KEYWARD_UPSTREAM_CONNECT_TIMEOUT',
    kind: duration,
    default: 5_000,
    description: 'how long opening a connection to an upstream may take (then 504)',
  }),
  dashboardSessionIdle: setting({
    flag: '--dashboard-session-idle <duration>',
    env: 'KEYWARD_DASHBOARD_SESSION_IDLE',
    kind: duration,
    default: 30 * 60_000,
    description: 'a dashboard session unused this long ends (sign in again)',
  }),
  dashboardSessionMax: setting({
    flag: '--dashboard-session-max <duration>',
    env: 'KEYWARD_DASHBOARD_SESSION_MAX',
    kind: duration,
    default: 8 * 3_600_000,
    description: 'a dashboard session ends this long after sign-in, used or not',
  }),
  logLevel: setting<LogLevel>({
    flag: '--log-level <level>',
    env: 'KEYWARD_LOG_LEVEL',
    kind: oneOf(LOG_LEVELS),
    default: 'info',
    description: 'JSON logs on stdout: "info" logs one line per request',
  }),
  maxBodyBytes: setting({
    flag: '--max-body-bytes <bytes>',
    env: 'KEYWARD_MAX_BODY_BYTES',
    kind: integer(1, 16 * 1024 * 1024),
    default: DEFAULT_SERVICE_LIMITS.bodyBytes,
    description: 'largest request body (larger: 413)',
  }),
  maxHeaderBytes: setting({
    flag: '--max-header-bytes <bytes>',
    env: 'KEYWARD_MAX_HEADER_BYTES',
    kind: integer(1024, 1024 * 1024),
    default: DEFAULT_SERVICE_LIMITS.headerBytes,
    description: 'largest request line and headers together (larger: 431)',
  }),
  maxHeaders: setting({
    flag: '--max-headers <count>',
    env: 'KEYWARD_MAX_HEADERS',
    kind: integer(1, 10_000),
    default: DEFAULT_SERVICE_LIMITS.headersCount,
    description: 'most request headers (more: 431)',
  }),
  headersTimeout: setting({
    flag: '--headers-timeout <duration>',
    env: 'KEYWARD_HEADERS_TIMEOUT',
    kind: duration,
    default: DEFAULT_SERVICE_LIMITS.headersTimeoutMs,
    description: 'time a client has to send the headers (slow clients are dropped)',
  }),
  requestTimeout: setting({
    flag: '--request-timeout <duration>',
    env: 'KEYWARD_REQUEST_TIMEOUT',
    kind: duration,
    default: DEFAULT_SERVICE_LIMITS.requestTimeoutMs,
    description: 'time a client has to send the whole request; at least the headers timeout',
  }),
  keepAliveTimeout: setting({
    flag: '--keep-alive-timeout <duration>',
    env: 'KEYWARD_KEEP_ALIVE_TIMEOUT',
    kind: duration,
    default: DEFAULT_SERVICE_LIMITS.keepAliveTimeoutMs,
    description: 'how long an idle kept-alive connection stays open',
  }),
  auditRetention: setting<number | null>({
    flag: '--audit-retention <duration>',
    env: 'KEYWARD_AUDIT_RETENTION',
    kind: retentionOrNone,
    default: null,
    defaultText: 'none (keep every event)',
    description:
      'audit events older than this are deleted, in small batches every 10 minutes; the hash chain stays verifiable from the last deleted event',
  }),
  usageMinutesFor: setting({
    flag: '--usage-minutes-for <duration>',
    env: 'KEYWARD_USAGE_MINUTES_FOR',
    kind: age,
    default: DEFAULT_USAGE_MINUTE_ROWS_MS,
    defaultText: '48h',
    description:
      'usage analytics keep per-minute rows this long, then roll them up into hourly rows (in the background, in small batches)',
  }),
  usageRetention: setting({
    flag: '--usage-retention <duration>',
    env: 'KEYWARD_USAGE_RETENTION',
    kind: age,
    default: DEFAULT_USAGE_RETENTION_MS,
    description: 'usage rows older than this are deleted; at least --usage-minutes-for',
  }),
  usageMaxCells: setting({
    flag: '--usage-max-cells <count>',
    env: 'KEYWARD_USAGE_MAX_CELLS',
    kind: integer(100, 10_000_000),
    default: 50_000,
    description:
      'most usage cells (key, minute, outcome, route) held in memory between writes; past it, verifications are not recorded in analytics and counted in keyward_usage_cells_dropped_total',
  }),
  drainTimeout: setting({
    flag: '--drain-timeout <duration>',
    env: 'KEYWARD_DRAIN_TIMEOUT',
    kind: duration,
    default: 10_000,
    description:
      'on SIGTERM or SIGINT, how long in-flight requests may take before their connections are closed',
  }),
} as const

export type SettingName = keyof typeof SETTINGS
export type ValueOf<N extends SettingName> =
  (typeof SETTINGS)[N] extends Setting<infer T> ? T : never

/** The `--config FILE` / `KEYWARD_CONFIG` setting, which names the file of the others. */
export const CONFIG_SETTING = {
  flag: '--config <file>',
  env: 'KEYWARD_CONFIG',
  description: 'JSON file of settings, e.g. {"port": 8080}; flags and environment win over it',
} as const

/** Keys of the config file that have no flag or variable: structured proxy configuration. */
export const FILE_ONLY_SETTINGS = Object.freeze(['upstreams', 'routes'] as const)

function formatDefault(s: Setting<unknown>): string {
  if (s.defaultText !== undefined) return s.defaultText
  return s.kind.format ? s.kind.format(s.default) : String(s.default)
}

/** The flags of `keyward serve`, for the command line: flag, description, repeatable. */
export function settingFlags(): {
  name: SettingName | 'config'
  flag: string
  repeat: boolean
  help: string
}[] {
  const rows = (Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]).map(([name, s]) => ({
    name,
    flag: s.flag,
    repeat: s.repeat === true,
    help: `${s.description} (env ${s.env}; default ${formatDefault(s)})`,
  }))
  return [
    ...rows,
    {
      name: 'config',
      flag: CONFIG_SETTING.flag,
      repeat: false,
      help: `${CONFIG_SETTING.description} (env ${CONFIG_SETTING.env})`,
    },
  ]
}

/** The README's configuration reference: a Markdown table generated from `SETTINGS`. */
export function settingsReference(): string {
  const cell = (t: string) => t.replace(/\|/g, '\\|')
  const lines = [
    '| file key | flag | environment | default | values | what |',
    '| --- | --- | --- | --- | --- | --- |',
    ...(Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]).map(
      ([name, s]) =>
        `| \`${name}\` | \`${s.flag}\`${s.repeat ? ' (repeat)' : ''} | \`${s.env}\` | ${cell(formatDefault(s))} | ${cell(s.kind.allowed)} | ${cell(s.description)} |`,
    ),
    `| | \`${CONFIG_SETTING.flag}\` | \`${CONFIG_SETTING.env}\` | none | a file path | ${cell(CONFIG_SETTING.description)} |`,
  ]
  return lines.join('\n')
}
