import { type Clock, systemClock } from '../core/clock.js'
import type { DenyCode } from '../core/errors.js'
import { KeywardError } from '../core/errors.js'
import type { VerifyDenial, VerifyOptions, VerifyResult } from '../core/keyward.js'
import { assertValidScope } from '../core/scopes.js'
import type { FailedAuthLimiter } from '../limits/failed-auth.js'
import { type TrustedProxies, trustProxies } from '../limits/client-ip.js'
import { rejectUnknownOptions } from '../core/options.js'
import { DEFAULT_IDEMPOTENCY_METHODS } from './idempotency.js'
import { resolveQueryParam } from './query.js'

/**
 * Where a credential may come from. `x-api-key` and `bearer` are on by default; `apikey`
 * (`Authorization: ApiKey <key>`) and `query` (`?api_key=<key>`) are opt-in.
 */
export type CredentialSource = 'x-api-key' | 'bearer' | 'apikey' | 'query'

/** What the HTTP layer needs from a `Keyward`: its `verify` (and `verifyCached` when it has one). */
export interface KeyVerifier {
  verify(credential: string | null | undefined, options?: VerifyOptions): Promise<VerifyResult>
  /**
   * Answers from a cache without a promise, or `undefined` to ask `verify`. Optional: without
   * it every request goes through `verify`.
   */
  verifyCached?(
    credential: string | null | undefined,
    options?: VerifyOptions,
  ): VerifyResult | undefined
}

/**
 * The simple form of the `failedAuth` option: a per-process counter of failed
 * authentications per client address (see `createFailedAuthLimiter` in `keyward/limits`).
 */
export interface FailedAuthOptions {
  /** Failed authentications allowed per client per window before it gets 429. Default 20. */
  limit?: number
  /** Default 60 000 ms; one more attempt is earned every `windowMs / limit`. */
  windowMs?: number
  /** IPv6 clients are counted per network of this many leading bits. Default 64. */
  ipv6PrefixBits?: number
}

/** The `idempotency` option: the methods on which `Idempotency-Key` is honoured. */
export interface IdempotencyOptions {
  /** Uppercase method names. Default `['POST', 'PATCH']`; `[]` honours it nowhere. */
  methods?: readonly string[]
}

/** The RFC 9457 body keyward sends for a denial, before `errorBody` may change it. */
export interface ProblemDetails {
  type: string
  title: string
  status: number
  /** A sentence telling the caller what to do. Never echoes the credential. */
  detail: string
  code: DenyCode
  /** For `insufficient_scope`: the required scopes the key lacks. */
  missingScopes?: readonly string[]
}

/** What `onDenied` receives: the denial with its HTTP status, for logs and metrics. */
export interface DeniedEvent {
  code: DenyCode
  status: number
  /** The key's public id when it is known (revoked, expired, missing scope…). */
  keyId?: string
  missingScopes?: readonly string[]
  retryAfterSeconds?: number
  /** For `store_unavailable`: the backend error. Log it; never send it to the caller. */
  cause?: unknown
  /** Whether the request carried a credential at all. */
  credentialPresented: boolean
  /** Epoch ms, from `clock`. */
  at: number
}

/** Minimal logger: pino, console and fastify's logger all fit. */
export interface WarnLogger {
  warn(message: string): void
}

/**
 * Options of `requireApiKey()` (and of the Fastify plugin), the same in every adapter.
 * `Req` is the framework's request object.
 */
export interface ApiKeyOptions<Req = unknown> {
  /**
   * The `Keyward` instance (or anything with its `verify`), e.g. `acceptTokens(…)` from
   * `keyward/tokens` to accept keyward's access tokens (with or without keys).
   */
  keyward: KeyVerifier
  /** Scopes every request must carry (all of them). Default none. */
  scopes?: readonly string[]
  /** Credential sources, in order. Default `['x-api-key', 'bearer']`. */
  sources?: readonly CredentialSource[]
  /** Name of the query parameter of the `query` source. Default `api_key`. */
  queryParam?: string
  /**
   * Custom credential getter, asked first. A string is the credential; `null`/`undefined`
   * falls back to `sources` (pass `sources: []` to use the getter alone).
   */
  getCredential?: (req: Req) => string | null | undefined | Promise<string | null | undefined>
  /** Called for every denial, before the response is sent (logging, metrics). Must not throw. */
  onDenied?: (event: DeniedEvent, req: Req) => void
  /**
   * Replaces the JSON body of denials; status and headers stay as keyward sets them. The
   * result is sent as `application/problem+json` when it has a string `type`, else as
   * `application/json`.
   */
  errorBody?: (problem: ProblemDetails, denial: VerifyDenial) => Record<string, unknown>
  /**
   * CORS preflight (`OPTIONS` with `Access-Control-Request-Method`): `pass` lets it through
   * unauthenticated so a CORS handler can answer (browsers never send credentials on a
   * preflight); `authenticate` treats it like any request. Default `pass`.
   */
  preflight?: 'pass' | 'authenticate'
  /** Realm of the `WWW-Authenticate` challenge. Default `keyward`. */
  realm?: string
  /** Time source for `DeniedEvent.at`. */
  clock?: Clock
  /** Receives the start-up warning when the `query` source is on. Default `process.emitWarning`. */
  logger?: WarnLogger
  /**
   * Units this request uses from the key's rate limits and quota (an integer from 0). Not
   * asked when a cached key without limits is admitted. Default: 1 per request.
   */
  cost?: (req: Req) => number
  /**
   * Slows down key guessing per client address: after `limit` bad keys (`key_invalid`) in
   * `windowMs`, the client gets 429 `rate_limited` before any key is looked up. Pass
   * `{ limit, windowMs }` (counted in this process; pass the same object to every
   * `requireApiKey` of an app so they share one count) or a `createFailedAuthLimiter(...)` (e.g.
   * on a Redis limiter, to count across servers). Never charges any key. Default off.
   */
  failedAuth?: FailedAuthOptions | FailedAuthLimiter
  /**
   * Your reverse proxies (addresses or CIDR ranges). When the peer is one of them, the client
   * address is taken from `X-Forwarded-For` (the right-most untrusted entry); otherwise the
   * header is ignored. Default none: the socket's peer is the client.
   */
  trustedProxies?: readonly string[] | TrustedProxies
  /**
   * The peer's address where keyward cannot read a socket: Hono on Bun, Deno or Workers, e.g.
   * `(c) => getConnInfo(c).remote.address` with Hono's `conninfo` helper. It replaces the
   * socket's peer; `trustedProxies` still applies on top. Anything but a string counts as
   * unknown (IP allowlists then refuse, `failedAuth` cannot count). Must not throw.
   */
  getClientIp?: (req: Req) => string | undefined
  /**
   * Where `Idempotency-Key` is honoured. On these methods (default POST and PATCH, which are
   * not idempotent by nature), a retry of the same operation (method, path and query, and the
   * body where the adapter has it) is charged to the key's rate limits but not to its quota,
   * and the same key on another operation gets 422 `idempotency_key_reused`. On other methods,
   * and everywhere with `false`, the header is ignored. See docs/http.md#idempotency-key.
   */
  idempotency?: IdempotencyOptions | false
  /**
   * What usage analytics count requests under: a name (`'billing-api'`) or a function of the
   * request returning a route pattern (`/orders/:id`) or a name. Keep it to a few values: never
   * the raw URL (its ids make a row per request, its query may hold a key); anything from `?` on
   * is cut, and a key's tags past `usage.maxTagsPerKey` per minute are counted as `other`.
   * Default: the matched route pattern where the framework knows it before the handler
   * (Fastify's route URL, Hono's `routePath`), else none. Must not throw.
   */
  usageTag?: string | ((req: Req) => string | undefined)
}

/** Options after `resolveApiKeyOptions`: checked once, frozen, nothing re-checked per request. */
export interface ResolvedApiKeyOptions<Req = unknown> {
  readonly keyward: KeyVerifier
  readonly scopes: readonly string[]
  readonly sources: readonly CredentialSource[]
  readonly useHeader: boolean
  readonly useBearer: boolean
  readonly useApiKeyScheme: boolean
  readonly useQuery: boolean
  readonly queryParam: string
  readonly getCredential: ApiKeyOptions<Req>['getCredential']
  readonly onDenied: ApiKeyOptions<Req>['onDenied']
  readonly errorBody: ApiKeyOptions<Req>['errorBody']
  readonly preflightPass: boolean
  readonly realm: string
  readonly clock: Clock
  readonly cost: ApiKeyOptions<Req>['cost']
  readonly failedAuth: FailedAuthOptions | FailedAuthLimiter | undefined
  /** Compiled `trustedProxies`, or null when none are trusted (the socket peer is the client). */
  readonly trustedProxies: TrustedProxies | null
  readonly getClientIp: ApiKeyOptions<Req>['getClientIp']
  /** Methods on which `Idempotency-Key` counts; null when it counts nowhere. */
  readonly idempotencyMethods: ReadonlySet<string> | null
  readonly usageTag: ApiKeyOptions<Req>['usageTag']
}

const KNOWN = new Set([
  'keyward',
  'scopes',
  'sources',
  'queryParam',
  'getCredential',
  'onDenied',
  'errorBody',
  'preflight',
  'realm',
  'clock',
  'logger',
  'cost',
  'failedAuth',
  'trustedProxies',
  'getClientIp',
  'idempotency',
  'usageTag',
])
const FAILED_AUTH_KNOWN = new Set(['limit', 'windowMs', 'ipv6PrefixBits'])
const IDEMPOTENCY_KNOWN = new Set(['methods'])
const METHOD_RE = /^[A-Z][A-Z-]{0,31}$/
const DEFAULT_IDEMPOTENCY: ReadonlySet<string> = new Set(DEFAULT_IDEMPOTENCY_METHODS)
const SOURCES: readonly CredentialSource[] = ['x-api-key', 'bearer', 'apikey', 'query']
const DEFAULT_SOURCES: readonly CredentialSource[] = Object.freeze(['x-api-key', 'bearer'])
const REALM_RE = /^[\x20-\x7e]{1,64}$/
const warned = new WeakSet<object>()
const defaultLogger: WarnLogger = {
  warn: (message) => process.emitWarning(message, 'KeywardWarning'),
}

function invalid(message: string): KeywardError {
  return new KeywardError('invalid_options', message)
}

function checkFunction(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function')
    throw invalid(`"${name}" must be a function, got ${typeof value}`)
}

/**
 * Checks adapter options once and returns them frozen. Adapters call it in their factory.
 *
 * @example
 * const resolved = resolveApiKeyOptions({ keyward, scopes: ['orders:read'] })
 * @throws KeywardError `invalid_options` naming the option; `invalid_argument` for a bad scope
 */
export function resolveApiKeyOptions<Req>(options: ApiKeyOptions<Req>): ResolvedApiKeyOptions<Req> {
  if (typeof options !== 'object' || options === null)
    throw invalid('options must be an object with at least { keyward }')
  rejectUnknownOptions(options, KNOWN, 'requireApiKey')
  if (typeof options.keyward?.verify !== 'function')
    throw invalid('"keyward" must be a Keyward (from createKeyward) or have a verify() method')
  const scopes = checkScopes(options.scopes, '"scopes"')
  const sources = options.sources ?? DEFAULT_SOURCES
  if (!Array.isArray(sources))
    throw invalid('"sources" must be a list, e.g. ["x-api-key", "bearer"]')
  for (const s of sources) {
    if (!SOURCES.includes(s))
      throw invalid(`"sources" contains ${JSON.stringify(s)}: use ${SOURCES.join(', ')}`)
  }
  if (new Set(sources).size !== sources.length) throw invalid('"sources" lists a source twice')
  const queryParam = resolveQueryParam(options.queryParam)
  checkFunction(options.getCredential, 'getCredential')
  checkFunction(options.onDenied, 'onDenied')
  checkFunction(options.errorBody, 'errorBody')
  const preflight = options.preflight ?? 'pass'
  if (preflight !== 'pass' && preflight !== 'authenticate')
    throw invalid(`"preflight" must be "pass" or "authenticate", got ${JSON.stringify(preflight)}`)
  const realm = options.realm ?? 'keyward'
  if (typeof realm !== 'string' || !REALM_RE.test(realm) || /["\\]/.test(realm))
    throw invalid('"realm" must be 1-64 printable ASCII characters without quotes or backslashes')
  if (options.clock !== undefined && typeof options.clock?.now !== 'function')
    throw invalid('"clock" must have a now() method returning epoch ms')
  const logger = options.logger ?? defaultLogger
  if (typeof logger?.warn !== 'function') throw invalid('"logger" must have a warn() method')
  checkFunction(options.cost, 'cost')
  checkFunction(options.getClientIp, 'getClientIp')
  const failedAuth = options.failedAuth
  if (failedAuth !== undefined && (typeof failedAuth !== 'object' || failedAuth === null))
    throw invalid(
      '"failedAuth" must be { limit, windowMs } or a limiter from createFailedAuthLimiter()',
    )
  if (failedAuth !== undefined && typeof (failedAuth as FailedAuthLimiter).check !== 'function') {
    rejectUnknownOptions(failedAuth, FAILED_AUTH_KNOWN, 'requireApiKey', 'failedAuth.')
  }
  if (typeof options.usageTag === 'string') checkUsageTag(options.usageTag, '"usageTag"')
  else checkFunction(options.usageTag, 'usageTag')
  const trustedProxies = resolveTrustedProxies(options.trustedProxies)
  const idempotencyMethods = resolveIdempotency(options.idempotency)
  const useQuery = sources.includes('query')
  if (useQuery && !warned.has(logger)) {
    warned.add(logger)
    logger.warn(
      `keyward: API keys are accepted in the "${queryParam}" query parameter. URLs end up in access logs, browser history and Referer headers: prefer the X-API-Key header, and redact logged URLs with redactUrl() / redactRequest()`,
    )
  }
  return Object.freeze({
    keyward: options.keyward,
    scopes,
    sources: Object.freeze([...sources]),
    useHeader: sources.includes('x-api-key'),
    useBearer: sources.includes('bearer'),
    useApiKeyScheme: sources.includes('apikey'),
    useQuery,
    queryParam,
    getCredential: options.getCredential,
    onDenied: options.onDenied,
    errorBody: options.errorBody,
    preflightPass: preflight === 'pass',
    realm,
    clock: options.clock ?? systemClock,
    cost: options.cost,
    failedAuth,
    trustedProxies,
    getClientIp: options.getClientIp,
    idempotencyMethods,
    usageTag: options.usageTag,
  })
}

const TAG_RE = /^[\x20-\x3e\x40-\x7e]{1,128}$/

/**
 * Checks a fixed usage tag (an option, a route's config): 1-128 printable ASCII characters
 * without `?`, so that no query string can become a tag.
 *
 * @throws KeywardError `invalid_options`
 */
export function checkUsageTag(value: unknown, what: string): string {
  if (typeof value !== 'string' || !TAG_RE.test(value))
    throw invalid(
      `${what} must be a route pattern or a name of 1-128 printable ASCII characters without "?", got ${JSON.stringify(value)}`,
    )
  return value
}

/** A tag computed per request: a string, cut at `?`; anything else is no tag. */
export function usageTagOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined
  const q = value.indexOf('?')
  return q < 0 ? value : q === 0 ? undefined : value.slice(0, q)
}

function resolveIdempotency(value: ApiKeyOptions['idempotency']): ReadonlySet<string> | null {
  if (value === undefined) return DEFAULT_IDEMPOTENCY
  if (value === false) return null
  if (typeof value !== 'object' || value === null)
    throw invalid('"idempotency" must be false or { methods: ["POST", "PATCH"] }')
  rejectUnknownOptions(value, IDEMPOTENCY_KNOWN, 'requireApiKey', 'idempotency.')
  const methods = value.methods ?? DEFAULT_IDEMPOTENCY_METHODS
  if (!Array.isArray(methods))
    throw invalid('"idempotency.methods" must be a list of methods, e.g. ["POST", "PATCH"]')
  for (const m of methods) {
    if (typeof m !== 'string' || !METHOD_RE.test(m))
      throw invalid(
        `"idempotency.methods" contains ${JSON.stringify(m)}: use uppercase method names such as "POST"`,
      )
  }
  return methods.length === 0 ? null : new Set(methods)
}

function resolveTrustedProxies(value: ApiKeyOptions['trustedProxies']): TrustedProxies | null {
  if (value === undefined) return null
  if (Array.isArray(value)) return value.length === 0 ? null : trustProxies(value)
  if (typeof (value as TrustedProxies)?.has === 'function') return value as TrustedProxies
  throw invalid('"trustedProxies" must be a list of addresses or CIDR ranges, e.g. ["10.0.0.0/8"]')
}

/**
 * Checks a list of required scopes (for options and per-route config) and returns it frozen.
 *
 * @throws KeywardError `invalid_options` for a non-list; `invalid_argument` for a bad scope
 */
export function checkScopes(value: unknown, what: string): readonly string[] {
  if (value === undefined) return Object.freeze([])
  if (!Array.isArray(value)) throw invalid(`${what} must be a list of scopes, e.g. ["orders:read"]`)
  for (const s of value) {
    if (typeof s !== 'string') throw invalid(`${what} must contain strings, got ${typeof s}`)
    assertValidScope(s)
  }
  return Object.freeze([...new Set(value as string[])])
}
