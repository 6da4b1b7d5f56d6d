// The settings of `keyward serve`, stated once: each has a flag, an environment variable, a key
// in the JSON config file, a type, a default and a description. The table drives parsing,
// error lines, `keyward serve --help` and the README's configuration reference.
// Precedence: flag > environment > config file > default.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { formatDuration } from '../core/duration.js'
import { KeywardError } from '../core/errors.js'
import type { RedisFailurePolicy } from '../limits/redis.js'
import { DEFAULT_DATABASE_URL } from '../open/database-url.js'
import { describeError } from '../open/describe-error.js'
import { DEFAULT_ACCESS_TOKEN_LIFETIME_SEC, MAX_TOKEN_LIFETIME_SEC } from '../tokens/limits.js'
import {
  DEFAULT_SERVICE_LIMITS,
  DEFAULT_USAGE_MINUTE_ROWS_MS,
  DEFAULT_USAGE_RETENTION_MS,
  type ServiceLimits,
} from './app.js'
import {
  audienceList,
  boolean,
  databaseUrl,
  duration,
  filePath,
  Invalid,
  integer,
  type Kind,
  matching,
  oneOf,
  proxyList,
  type Raw,
  httpUrlOrNone,
  redisUrl,
  retentionOrNone,
  scopeOrNone,
  upstreamUrlOrNone,
  secondsBetween,
} from './setting-kinds.js'
import { type ProxyConfig, ProxyConfigError, resolveProxyConfig } from './proxy/config.js'
import { loadTlsFiles, TlsFileError, type TlsFiles } from './tls.js'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** A duration in hours or days, as ages of stored rows are written. */
const age: Kind<number> = {
  ...duration,
  allowed: 'a whole number and a unit (m, h, d, w), e.g. "48h" or "90d"',
  format: formatDuration,
}

/** One row of the table. */
interface Setting<T> {
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
type ValueOf<N extends SettingName> = (typeof SETTINGS)[N] extends Setting<infer T> ? T : never

/** The `--config FILE` / `KEYWARD_CONFIG` setting, which names the file of the others. */
export const CONFIG_SETTING = {
  flag: '--config <file>',
  env: 'KEYWARD_CONFIG',
  description: 'JSON file of settings, e.g. {"port": 8080}; flags and environment win over it',
} as const

/** Keys of the config file that have no flag or variable: structured proxy configuration. */
export const FILE_ONLY_SETTINGS = Object.freeze(['upstreams', 'routes'] as const)

/** Where a setting's value came from, as error lines name it. */
export type SettingOrigin = string

/** The resolved settings of `keyward serve`. */
export type ServeSettings = { readonly [N in SettingName]: ValueOf<N> } & {
  /** The proxy (`upstream`, and `upstreams` and `routes` of the config file); null when off. */
  readonly proxy: ProxyConfig | null
  /** The certificate and key read from `tlsCert` / `tlsKey`, when HTTPS is on. */
  readonly tls: TlsFiles | null
  /** `ServiceLimits` for `createService`. */
  readonly limits: Required<ServiceLimits>
  /** Where each value came from (`--port`, `PORT`, `"port" in keyward.json`, `default`). */
  readonly origins: { readonly [N in SettingName]: SettingOrigin }
}

/** What `resolveSettings` reads: flag values as the command line gave them, and the environment. */
export interface SettingsInput {
  /** By setting name (and `config`): a string, a list for repeated flags, true for a bare flag. */
  flags: Partial<Record<SettingName | 'config', string | readonly string[] | boolean>>
  env: Readonly<Record<string, string | undefined>>
  /** Relative paths (config file, certificates, SQLite) resolve against it. */
  cwd: string
}

function flagName(s: { flag: string }): string {
  return s.flag.split(' ')[0]!
}

function fail(line: string): never {
  throw new KeywardError('invalid_options', line)
}

function envValue(env: SettingsInput['env'], name: string): string | undefined {
  const v = env[name]
  // an empty variable is unset, as shells and compose files often leave them
  return v === undefined || v === '' ? undefined : v
}

function jsonType(value: unknown): string {
  return Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value
}

function readConfigFile(path: string, origin: string, cwd: string): Record<string, unknown> {
  const file = resolve(cwd, path)
  let body: string
  try {
    body = readFileSync(file, 'utf8')
  } catch (error) {
    fail(`config file ${path} (from ${origin}) cannot be read: ${describeError(error)}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch (error) {
    // V8's message may quote the file; keep only where the mistake is
    const at = /position (\d+)/.exec((error as Error).message)?.[1]
    const where =
      at === undefined
        ? ''
        : (() => {
            const before = body.slice(0, Number(at)).split('\n')
            return ` at line ${before.length}, column ${before.at(-1)!.length + 1}`
          })()
    fail(`config file ${path} (from ${origin}) is not valid JSON${where}: fix the syntax there`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    fail(
      `config file ${path} (from ${origin}) holds a JSON ${jsonType(parsed)}: it must be an object of settings, e.g. {"port": 8080}`,
    )
  }
  const known = [...Object.keys(SETTINGS), ...FILE_ONLY_SETTINGS]
  for (const key of Object.keys(parsed)) {
    if (!known.includes(key)) {
      fail(`unknown setting "${key}" in config file ${path}: use one of ${known.join(', ')}`)
    }
  }
  return parsed as Record<string, unknown>
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase()
  return (
    h === 'localhost' ||
    h === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  )
}

/**
 * Resolves and checks the settings of `keyward serve` from flags, the environment and the
 * config file (in that order of precedence), then the rules between settings: TLS files
 * readable and matching, plain HTTP only on loopback or behind a TLS proxy, a TLS proxy only
 * with trusted proxies, the headers timeout within the request timeout.
 *
 * @example
 * const settings = resolveSettings({ flags: { port: '9000' }, env: process.env, cwd: process.cwd() })
 * @throws KeywardError `invalid_options` with one line naming the setting, where its value came
 * from, and what is allowed
 */
export function resolveSettings(input: SettingsInput): ServeSettings {
  const { flags, env, cwd } = input
  const configFlag = flags.config
  const configPath = typeof configFlag === 'string' ? configFlag : envValue(env, CONFIG_SETTING.env)
  const configOrigin =
    typeof configFlag === 'string' ? flagName(CONFIG_SETTING) : CONFIG_SETTING.env
  const file = configPath === undefined ? {} : readConfigFile(configPath, configOrigin, cwd)

  const values: Record<string, unknown> = {}
  const origins: Record<string, string> = {}
  for (const [name, s] of Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]) {
    const flag = flags[name]
    const fromEnv = envValue(env, s.env)
    let raw: Raw
    let origin: string
    if (flag !== undefined && !(Array.isArray(flag) && flag.length === 0)) {
      raw = flag as Raw
      origin = flagName(s)
    } else if (fromEnv !== undefined) {
      raw = fromEnv
      origin = s.env
    } else if (Object.hasOwn(file, name)) {
      raw = file[name] as Raw
      origin = `"${name}" in ${configPath}`
      if (jsonType(raw) !== s.kind.json) {
        fail(
          `${name} ${JSON.stringify(raw)} from ${origin} is a JSON ${jsonType(raw)}: use ${s.kind.allowed}, as a JSON ${s.kind.json}`,
        )
      }
    } else {
      values[name] = s.default
      origins[name] = 'default'
      continue
    }
    try {
      values[name] = s.kind.parse(raw, cwd)
    } catch (error) {
      if (!(error instanceof Invalid)) throw error
      const shown = s.kind.show ? s.kind.show(raw) : JSON.stringify(raw)
      fail(`${name} ${shown} from ${origin} is not valid: use ${s.kind.allowed}`)
    }
    origins[name] = origin
  }
  const v = values as { [N in SettingName]: ValueOf<N> }
  const named = (name: SettingName) => `${name} (from ${origins[name]})`

  let tls: TlsFiles | null = null
  if ((v.tlsCert === null) !== (v.tlsKey === null)) {
    const given: SettingName = v.tlsCert === null ? 'tlsKey' : 'tlsCert'
    fail(
      `${named(given)} is set without ${given === 'tlsCert' ? 'tlsKey' : 'tlsCert'}: set both --tls-cert and --tls-key (KEYWARD_TLS_CERT and KEYWARD_TLS_KEY), or neither`,
    )
  }
  if (v.tlsCert !== null && v.tlsKey !== null) {
    try {
      tls = loadTlsFiles(v.tlsCert, v.tlsKey)
    } catch (error) {
      if (!(error instanceof TlsFileError)) throw error
      fail(`${named(error.setting)}: ${error.message}`)
    }
  }
  if (v.behindTlsProxy && v.trustedProxies.length === 0) {
    fail(
      `${named('behindTlsProxy')} needs trusted proxies: name the proxy's address with --trusted-proxy ADDRESS_OR_CIDR (KEYWARD_TRUSTED_PROXIES), so that the client's address comes from its X-Forwarded-For`,
    )
  }
  if (tls === null && !v.behindTlsProxy && !isLoopback(v.host)) {
    fail(
      `${named('host')} is ${v.host}, not a loopback address, and plain HTTP there would carry keys in clear text: serve HTTPS with --tls-cert and --tls-key, or, when a TLS-terminating proxy is in front, say so with --behind-tls-proxy and --trusted-proxy`,
    )
  }
  if (v.usageRetention < v.usageMinutesFor) {
    fail(
      `${named('usageRetention')} is shorter than ${named('usageMinutesFor')}: keep usage at least as long as its per-minute rows`,
    )
  }
  if (v.headersTimeout > v.requestTimeout) {
    fail(
      `${named('headersTimeout')} is longer than ${named('requestTimeout')}: make the request timeout at least the headers timeout`,
    )
  }
  let proxy: ProxyConfig | null
  try {
    proxy = resolveProxyConfig({
      upstream: v.upstream,
      upstreamOrigin: origins.upstream!,
      upstreams: file.upstreams,
      routes: file.routes,
      file: configPath ?? 'the config file',
      timeoutMs: v.upstreamTimeout,
      connectTimeoutMs: v.upstreamConnectTimeout,
    })
  } catch (error) {
    if (!(error instanceof ProxyConfigError)) throw error
    fail(error.message)
  }
  return Object.freeze({
    ...v,
    proxy,
    tls,
    limits: Object.freeze({
      bodyBytes: v.maxBodyBytes,
      headerBytes: v.maxHeaderBytes,
      headersCount: v.maxHeaders,
      headersTimeoutMs: v.headersTimeout,
      requestTimeoutMs: v.requestTimeout,
      keepAliveTimeoutMs: v.keepAliveTimeout,
    }),
    origins: Object.freeze(origins) as ServeSettings['origins'],
  })
}

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
