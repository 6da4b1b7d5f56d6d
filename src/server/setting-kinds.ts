// The types of `keyward serve` settings: how each is written (text from a flag or the
// environment, JSON in the config file), checked, and shown in error lines. settings.ts
// holds the table that uses them.
import { resolve } from 'node:path'
import { formatDuration, parseDuration } from '../core/duration.js'
import { trustProxies } from '../limits/client-ip.js'
import { parseDatabaseUrl, redactDatabaseUrl } from '../open/database-url.js'
import { isValidScope } from '../core/scopes.js'
import { upstreamOrigin } from './proxy/config.js'

/** A value as a source holds it: text (flag, environment), or JSON (config file). */
export type Raw = string | number | boolean | readonly unknown[] | Record<string, unknown> | null

/** Thrown by a kind's parser; the caller builds the line naming the setting and its source. */
export class Invalid extends Error {}

/** How one type of setting is written and checked. */
export interface Kind<T> {
  /** What is allowed, after "use": `a whole number from 0 to 65535`. */
  readonly allowed: string
  /** The JSON type a config file holds for it. */
  readonly json: 'number' | 'string' | 'boolean' | 'array'
  /** Parses a value (already of the JSON type, or text from a flag or the environment). */
  parse(value: Raw, cwd: string): T
  /** The value as error lines show it (URLs without their password). */
  show?(value: Raw): string
  /** The default as the reference shows it. */
  format?(value: T): string
}

function text(value: Raw): string {
  if (typeof value !== 'string') throw new Invalid()
  return value
}

export function integer(min: number, max: number): Kind<number> {
  return {
    allowed: `a whole number from ${min} to ${max}`,
    json: 'number',
    parse(value) {
      const n =
        typeof value === 'number' ? value : /^\d{1,16}$/.test(text(value)) ? Number(value) : NaN
      if (!Number.isSafeInteger(n) || n < min || n > max) throw new Invalid()
      return n
    },
  }
}

export const duration: Kind<number> = {
  allowed: 'a whole number and a unit (ms, s, m, h), e.g. "10s" or "500ms"',
  json: 'string',
  parse(value) {
    try {
      return parseDuration(text(value))
    } catch {
      throw new Invalid()
    }
  },
  format: (ms) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`),
}

export const boolean: Kind<boolean> = {
  allowed: 'true or false (or 1 or 0)',
  json: 'boolean',
  parse(value) {
    if (typeof value === 'boolean') return value
    const t = text(value).trim().toLowerCase()
    if (t === 'true' || t === '1') return true
    if (t === 'false' || t === '0') return false
    throw new Invalid()
  },
}

export function oneOf<T extends string>(values: readonly T[]): Kind<T> {
  return {
    allowed: values
      .map((v) => JSON.stringify(v))
      .join(', ')
      .replace(/, ([^,]*)$/, ' or $1'),
    json: 'string',
    parse(value) {
      const t = text(value)
      if (!(values as readonly string[]).includes(t)) throw new Invalid()
      return t as T
    },
  }
}

export function matching(re: RegExp, allowed: string): Kind<string> {
  return {
    allowed,
    json: 'string',
    parse(value) {
      const t = text(value)
      if (!re.test(t)) throw new Invalid()
      return t
    },
  }
}

/** A URL as error lines show it: its password hidden. */
function showUrl(value: Raw): string {
  return JSON.stringify(typeof value === 'string' ? redactDatabaseUrl(value) : value)
}

export const databaseUrl: Kind<string> = {
  allowed:
    'sqlite:PATH (e.g. sqlite:./keyward.db), sqlite::memory: or postgres://USER@HOST:5432/DB',
  json: 'string',
  parse(value, cwd) {
    const t = text(value)
    try {
      parseDatabaseUrl(t, cwd)
    } catch {
      throw new Invalid()
    }
    return t
  },
  show: showUrl,
}

/** A retention period in days or more (`90d`, `2w`, `1y`), or null for `none` (keep forever). */
export const retentionOrNone: Kind<number | null> = {
  allowed: 'a duration of at least 1d, e.g. "90d", "12w", "1y", or "none" to keep everything',
  json: 'string',
  parse(value) {
    const t = text(value).trim()
    if (t === 'none') return null
    let ms: number
    try {
      ms = parseDuration(t)
    } catch {
      throw new Invalid()
    }
    if (ms < 86_400_000) throw new Invalid()
    return ms
  },
  format: (ms) => (ms === null ? 'none' : formatDuration(ms)),
}

/** An absolute http(s) URL without a query or fragment, or null when unset. */
export const httpUrlOrNone: Kind<string | null> = {
  allowed: 'an absolute URL such as https://keys.example.com',
  json: 'string',
  parse(value) {
    const t = text(value).trim()
    let url: URL
    try {
      url = new URL(t)
    } catch {
      throw new Invalid()
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash)
      throw new Invalid()
    return t.replace(/\/+$/, '')
  },
}

/** The origin of an upstream (`http://127.0.0.1:3000`), or null when unset. */
export const upstreamUrlOrNone: Kind<string | null> = {
  allowed: 'an http(s) URL with no path, e.g. http://127.0.0.1:3000 (requests keep their own path)',
  json: 'string',
  parse(value) {
    const origin = upstreamOrigin(text(value))
    if (origin === null) throw new Invalid()
    return origin
  },
}

/** A scope (`resource:action`), or null when unset. */
export const scopeOrNone: Kind<string | null> = {
  allowed: 'a scope such as metrics:read (lowercase segments separated by ":")',
  json: 'string',
  parse(value) {
    const t = text(value).trim()
    if (!isValidScope(t)) throw new Invalid()
    return t
  },
}

export const redisUrl: Kind<string | null> = {
  allowed: 'redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://… (TLS)',
  json: 'string',
  parse(value) {
    const t = text(value).trim()
    let url: URL
    try {
      url = new URL(t)
    } catch {
      throw new Invalid()
    }
    if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '')
      throw new Invalid()
    return t
  },
  show: showUrl,
}

export const filePath: Kind<string | null> = {
  allowed: 'the path of a PEM file',
  json: 'string',
  parse(value, cwd) {
    const t = text(value)
    if (t.trim() === '') throw new Invalid()
    return resolve(cwd, t)
  },
}

/** A list setting's entries: comma-separated text (flag, environment) or a JSON array. */
function listEntries(value: Raw): readonly unknown[] {
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
  return Array.isArray(value) ? value : [value]
}

export const proxyList: Kind<readonly string[]> = {
  allowed: 'IP addresses or CIDR ranges, e.g. 10.0.0.0/8 (comma-separated in the environment)',
  json: 'array',
  parse(value) {
    const entries = listEntries(value)
    for (const entry of entries) {
      if (typeof entry !== 'string') throw new Invalid()
      try {
        trustProxies([entry.trim()])
      } catch {
        throw new Invalid()
      }
    }
    return Object.freeze(entries.map((e) => (e as string).trim()))
  },
  format: (list) => (list.length === 0 ? 'none' : list.join(', ')),
}

/** A duration of whole seconds from `minSec` to `maxSec` (e.g. a token lifetime). */
export function secondsBetween(minSec: number, maxSec: number): Kind<number> {
  return {
    allowed: `a duration of whole seconds from ${minSec}s to ${maxSec / 60}m, e.g. "5m" or "90s"`,
    json: 'string',
    parse(value) {
      let ms: number
      try {
        ms = parseDuration(text(value))
      } catch {
        throw new Invalid()
      }
      if (ms % 1000 !== 0 || ms < minSec * 1000 || ms > maxSec * 1000) throw new Invalid()
      return ms / 1000
    },
    format: (sec) => (sec % 60 === 0 ? `${sec / 60}m` : `${sec}s`),
  }
}

/** Token audiences: URIs or names without spaces (RFC 7519 StringOrURI). */
export const audienceList: Kind<readonly string[]> = {
  allowed:
    'URIs or names without spaces, e.g. https://orders.internal (comma-separated in the environment)',
  json: 'array',
  parse(value) {
    const entries = listEntries(value)
    for (const entry of entries)
      if (typeof entry !== 'string' || !/^[\x21-\x7e]{1,2048}$/.test(entry)) throw new Invalid()
    return Object.freeze([...new Set(entries as string[])])
  },
  format: (list) => (list.length === 0 ? 'none' : list.join(', ')),
}
