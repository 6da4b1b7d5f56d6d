// Resolving the settings of `keyward serve` (settings-table.ts) from flags, the environment and
// the JSON config file, then the rules between them.
// Precedence: flag > environment > config file > default.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { KeywardError } from '../core/errors.js'
import { describeError } from '../open/describe-error.js'
import type { ServiceLimits } from './app.js'
import { type ProxyConfig, ProxyConfigError, resolveProxyConfig } from './proxy/config.js'
import { Invalid, type Raw } from './setting-kinds.js'
import {
  CONFIG_SETTING,
  FILE_ONLY_SETTINGS,
  SETTINGS,
  type Setting,
  type SettingName,
  type ValueOf,
} from './settings-table.js'
import { loadTlsFiles, TlsFileError, type TlsFiles } from './tls.js'

export {
  type LogLevel,
  SETTINGS,
  type SettingName,
  settingFlags,
  settingsReference,
} from './settings-table.js'

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
