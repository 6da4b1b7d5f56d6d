// The proxy's configuration: upstreams by path prefix and route rules, read from the config
// file (and `--upstream`), checked once at start with one line per mistake. What a request may
// reach is decided by `ProxyTable.match` (table.ts) from what is resolved here.
import { parseDuration } from '../../core/duration.js'
import { isValidScope } from '../../core/scopes.js'
import { compilePattern, type PathPattern } from './path.js'

/** Methods a rule may name (Fastify's); `*` in a rule means all of them. */
export const PROXY_METHODS = Object.freeze([
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
] as const)

/** Largest `cost` a rule may charge. */
const MAX_COST = 1_000_000

/** One upstream: requests under `prefix` go to `url`. */
export interface ProxyUpstream {
  /** `/` or a path in normal form without a final `/`, e.g. `/billing`. */
  readonly prefix: string
  /** The origin requests go to, e.g. `http://127.0.0.1:3000`: the `aud` of X-Keyward-Token. */
  readonly url: string
  /** Time to the response headers, and between two chunks of the body, in ms. */
  readonly timeoutMs: number
  /** Largest request body; null for no limit. */
  readonly maxBodyBytes: number | null
}

/** One route rule. */
export interface ProxyRule {
  /** `routes[2] GET /orders/**`, for messages and logs. */
  readonly label: string
  /** Methods it covers; null for all. A rule for GET covers HEAD too. */
  readonly methods: ReadonlySet<string> | null
  readonly pattern: PathPattern
  /** No key needed, none checked, no identity headers sent. */
  readonly public: boolean
  /** Scopes the key needs (none: any valid key). */
  readonly scopes: readonly string[]
  /** Units charged to the key's rate limits and quota per request. */
  readonly cost: number
  /** Largest request body; null for the upstream's limit. */
  readonly maxBodyBytes: number | null
}

/** The resolved proxy configuration. */
export interface ProxyConfig {
  /** Longest prefix first. */
  readonly upstreams: readonly ProxyUpstream[]
  /** null: no rules, any valid key may call any path. Otherwise the first match decides. */
  readonly rules: readonly ProxyRule[] | null
  /** Time to open a connection to an upstream, in ms. */
  readonly connectTimeoutMs: number
}

/** What `resolveProxyConfig` reads. */
export interface ProxyConfigInput {
  /** `--upstream` / `KEYWARD_UPSTREAM` / `"upstream"`: the upstream of `/`, already checked. */
  upstream: string | null
  /** Where `upstream` came from, for messages. */
  upstreamOrigin: string
  /** `"upstreams"` of the config file (unchecked JSON), undefined when absent. */
  upstreams: unknown
  /** `"routes"` of the config file (unchecked JSON), undefined when absent. */
  routes: unknown
  /** Name of the config file, for messages. */
  file: string
  timeoutMs: number
  connectTimeoutMs: number
}

/** A configuration mistake: its message is the whole error line. */
export class ProxyConfigError extends Error {}

function fail(line: string): never {
  throw new ProxyConfigError(line)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkKeys(value: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      fail(`${where} has an unknown field "${key}": use ${known.join(', ')}`)
  }
}

/**
 * The origin of an upstream URL (`http://127.0.0.1:3000`), or null when the text is not an
 * absolute http(s) URL with nothing but `/` after the host: the proxy forwards each path as it
 * matched it, so a base path would silently change what rules allow.
 */
export function upstreamOrigin(text: string): string | null {
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    return null
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') return null
  if (url.username !== '' || url.password !== '') return null
  return url.origin
}

const URL_HELP =
  'an http(s) URL with no path, e.g. http://127.0.0.1:3000 (requests keep their own path)'

function byteLimit(value: unknown, where: string): number | null {
  if (value === undefined) return null
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    fail(`${where} must be a whole number of bytes (0 or more), got ${JSON.stringify(value)}`)
  return value
}

function resolveUpstreams(input: ProxyConfigInput): ProxyUpstream[] {
  const out: ProxyUpstream[] = []
  if (input.upstream !== null) {
    out.push({ prefix: '/', url: input.upstream, timeoutMs: input.timeoutMs, maxBodyBytes: null })
  }
  const list = input.upstreams
  if (list === undefined) return out
  if (!Array.isArray(list))
    fail(
      `"upstreams" in ${input.file} must be a list, e.g. [{"prefix": "/billing", "url": "http://127.0.0.1:4000"}]`,
    )
  for (const [i, entry] of list.entries()) {
    const where = `upstreams[${i}] in ${input.file}`
    const at = (field: string) => `upstreams[${i}].${field} in ${input.file}`
    if (!isObject(entry))
      fail(
        `${where} must be an object, e.g. {"prefix": "/billing", "url": "http://127.0.0.1:4000"}`,
      )
    checkKeys(entry, ['prefix', 'url', 'timeout', 'maxBodyBytes'], where)
    const prefix = entry.prefix
    if (typeof prefix !== 'string')
      fail(`${where} needs "prefix": the path its requests start with, e.g. "/billing" (or "/")`)
    let pattern: PathPattern
    try {
      pattern = compilePattern(prefix)
    } catch (error) {
      fail(`${at('prefix')} ${JSON.stringify(prefix)} ${(error as Error).message}`)
    }
    if (pattern.parts.some((p) => p.kind !== 'literal') || (prefix !== '/' && prefix.endsWith('/')))
      fail(
        `${at('prefix')} ${JSON.stringify(prefix)} must be a plain path without "*" or a final "/", e.g. "/billing"`,
      )
    const url = typeof entry.url === 'string' ? upstreamOrigin(entry.url) : null
    if (url === null)
      fail(`${at('url')} ${JSON.stringify(entry.url)} is not valid: use ${URL_HELP}`)
    let timeoutMs = input.timeoutMs
    if (entry.timeout !== undefined) {
      try {
        timeoutMs = parseDuration(entry.timeout as string)
      } catch {
        fail(
          `${at('timeout')} ${JSON.stringify(entry.timeout)} is not valid: use a duration such as "30s" or "500ms"`,
        )
      }
    }
    const taken = out.find((u) => u.prefix === prefix)
    if (taken !== undefined)
      fail(
        `${at('prefix')} "${prefix}" is given twice${prefix === '/' && input.upstream !== null ? ` (also by ${input.upstreamOrigin})` : ''}: each prefix has one upstream`,
      )
    out.push({
      prefix,
      url,
      timeoutMs,
      maxBodyBytes: byteLimit(entry.maxBodyBytes, `${at('maxBodyBytes')}`),
    })
  }
  // the longest prefix wins
  return out.sort((a, b) => b.prefix.length - a.prefix.length)
}

function resolveMethods(value: unknown, at: (field: string) => string): ReadonlySet<string> | null {
  const list = typeof value === 'string' ? [value] : value
  const help = `a method such as "GET", a list of them, or "*" for all (${PROXY_METHODS.join(', ')})`
  if (!Array.isArray(list) || list.length === 0) fail(`${at('method')} must be ${help}`)
  if (list.length === 1 && list[0] === '*') return null
  const methods = new Set<string>()
  for (const m of list) {
    if (typeof m !== 'string' || !(PROXY_METHODS as readonly string[]).includes(m))
      fail(`${at('method')} ${JSON.stringify(m)} is not one of ${help}`)
    methods.add(m)
  }
  // HEAD asks for what GET would answer, without the body
  if (methods.has('GET')) methods.add('HEAD')
  return methods
}

function resolveRule(entry: unknown, i: number, file: string): ProxyRule {
  const where = `routes[${i}] in ${file}`
  const at = (field: string) => `routes[${i}].${field} in ${file}`
  if (!isObject(entry))
    fail(
      `${where} must be an object, e.g. {"method": "GET", "path": "/orders/**", "scopes": ["orders:read"]}`,
    )
  checkKeys(entry, ['method', 'path', 'scopes', 'cost', 'public', 'maxBodyBytes'], where)
  const methods = resolveMethods(entry.method, at)
  if (typeof entry.path !== 'string')
    fail(`${where} needs "path": a pattern such as "/orders/*" or "/orders/**"`)
  let pattern: PathPattern
  try {
    pattern = compilePattern(entry.path)
  } catch (error) {
    fail(`${at('path')} ${JSON.stringify(entry.path)} ${(error as Error).message}`)
  }
  const isPublic = entry.public ?? false
  if (typeof isPublic !== 'boolean') fail(`${at('public')} must be true or false`)
  let scopes: readonly string[] = []
  let cost = 1
  if (isPublic) {
    if (entry.scopes !== undefined || entry.cost !== undefined)
      fail(
        `${where} is public (no key is checked), so it cannot have "scopes" or "cost": remove them, or "public"`,
      )
  } else {
    if (entry.scopes === undefined)
      fail(
        `${where} needs "scopes": the scopes a key must hold, [] for any valid key, or "public": true for no key at all`,
      )
    if (
      !Array.isArray(entry.scopes) ||
      !entry.scopes.every((s) => typeof s === 'string' && isValidScope(s))
    )
      fail(
        `${at('scopes')} must be a list of scopes such as ["orders:read"], got ${JSON.stringify(entry.scopes)}`,
      )
    scopes = Object.freeze([...new Set(entry.scopes as string[])])
    if (entry.cost !== undefined) {
      const c = entry.cost
      if (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0 || c > MAX_COST)
        fail(`${at('cost')} must be a whole number from 0 to ${MAX_COST}, got ${JSON.stringify(c)}`)
      cost = c
    }
  }
  const shownMethods =
    methods === null
      ? '*'
      : [...methods].filter((m) => m !== 'HEAD' || !methods.has('GET')).join(',')
  return Object.freeze({
    label: `routes[${i}] ${shownMethods} ${entry.path}`,
    methods,
    pattern,
    public: isPublic,
    scopes,
    cost,
    maxBodyBytes: byteLimit(entry.maxBodyBytes, `${at('maxBodyBytes')}`),
  })
}

/**
 * Resolves the proxy's configuration; null when no upstream is configured at all.
 *
 * @throws ProxyConfigError with one line naming the field, the file and what is allowed
 */
export function resolveProxyConfig(input: ProxyConfigInput): ProxyConfig | null {
  const upstreams = resolveUpstreams(input)
  const routes = input.routes
  if (upstreams.length === 0) {
    if (routes !== undefined)
      fail(
        `"routes" in ${input.file} need an upstream to forward to: set --upstream URL (KEYWARD_UPSTREAM, "upstream") or "upstreams"`,
      )
    return null
  }
  let rules: ProxyRule[] | null = null
  if (routes !== undefined) {
    if (!Array.isArray(routes))
      fail(
        `"routes" in ${input.file} must be a list of rules, e.g. [{"method": "GET", "path": "/orders/**", "scopes": ["orders:read"]}]`,
      )
    rules = routes.map((entry, i) => resolveRule(entry, i, input.file))
  }
  return Object.freeze({
    upstreams: Object.freeze(upstreams.map((u) => Object.freeze(u))),
    rules: rules === null ? null : Object.freeze(rules),
    connectTimeoutMs: input.connectTimeoutMs,
  })
}
