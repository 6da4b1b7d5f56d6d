// The options of `createKeyward`, checked once: each bad option is refused with what was wrong
// and what to give instead, before anything is built.
import type { AuditBufferOptions } from './audit-buffer.js'
import { type ChangeFeed, isChangeFeed } from './changes.js'
import { type Clock, systemClock } from './clock.js'
import { KeywardError } from './errors.js'
import { createHasher, type Hasher, type Pepper } from './hash.js'
import { assertValidPrefix } from './key-format.js'
import { type KeywardLimitsOptions, resolveLimitPolicy } from './limit-policy.js'
import { rejectUnknownOptions } from './options.js'
import { compileImpliedScopes } from './scopes.js'
import type { Store } from './types.js'
import { resolveUsageOptions, type UsageOptions } from './usage.js'
import { checkPositiveInt } from './validate.js'
import type { CacheOptions, VerifierOptions } from './verifier.js'

/** `checkPositiveInt`, failing as an `invalid_options` KeywardError. */
function positiveInt(value: number, name: string): number {
  try {
    return checkPositiveInt(value, name)
  } catch (error) {
    throw new KeywardError('invalid_options', (error as Error).message)
  }
}

export interface KeywardOptions {
  store: Store
  /** Peppers (the newest signs new secrets) or a ready hasher. */
  peppers: readonly Pepper[] | Hasher
  clock?: Clock
  /** In-process verification cache; `false` turns it off. */
  cache?: CacheOptions
  /** Accept imported (non-keyward) secrets such as UUIDs. Default true. */
  allowImported?: boolean
  /** Only keys with these prefixes verify; default: any well-formed prefix. */
  acceptPrefixes?: readonly string[]
  /** How often usage counters are written to the store. Default 10 s. */
  usageFlushIntervalMs?: number
  /** Usage analytics: on/off and their memory bound (`UsageOptions`). */
  usage?: UsageOptions
  /** Called with errors of background work (usage flush, a lost change feed); default: ignored. */
  onError?: (error: unknown) => void
  /**
   * The channel to the other processes on the same database: changes made here are published
   * on it (before the admin call returns), changes heard on it drop this process's cached
   * state, within about a second instead of `cache.ttlMs`. `openKeyward` sets one up per
   * database; the caller owns it (closes it after `close()`).
   */
  changes?: ChangeFeed
  /** Rate limits and quotas, checked after scopes; off when absent. */
  limits?: KeywardLimitsOptions
  /**
   * Scopes that grant others: `{ admin: ['keys:read', 'keys:write'] }` makes a key holding
   * `admin` pass checks for those scopes too (they appear in its verified scopes).
   */
  impliedScopes?: Readonly<Record<string, readonly string[]>>
  /**
   * Denials of known keys (revoked, expired, disabled, IP not allowed, missing scope, rate
   * limited, quota exhausted) as audit events: merged per key, code and minute, written in
   * batches, never waited on. On by default; `{ denials: false }` turns it off.
   */
  audit?: AuditBufferOptions
}

const AUDIT_OPTIONS: ReadonlySet<string> = new Set([
  'denials',
  'flushIntervalMs',
  'batchSize',
  'maxPending',
])

function resolveAudit(audit: AuditBufferOptions | undefined): Required<AuditBufferOptions> {
  if (audit !== undefined && (typeof audit !== 'object' || audit === null || Array.isArray(audit)))
    throw new KeywardError(
      'invalid_options',
      '"audit" must be an object, e.g. { denials: true, flushIntervalMs: 5000 }',
    )
  if (audit !== undefined) rejectUnknownOptions(audit, AUDIT_OPTIONS, 'createKeyward "audit"')
  const denials = audit?.denials ?? true
  if (typeof denials !== 'boolean')
    throw new KeywardError(
      'invalid_options',
      `"audit.denials" must be true or false, got ${JSON.stringify(denials)}`,
    )
  const number = (value: number | undefined, name: string, fallback: number) =>
    positiveInt(value ?? fallback, `"audit.${name}"`)
  return {
    denials,
    flushIntervalMs: number(audit?.flushIntervalMs, 'flushIntervalMs', 5000),
    batchSize: number(audit?.batchSize, 'batchSize', 500),
    maxPending: number(audit?.maxPending, 'maxPending', 10_000),
  }
}

const KEYWARD_OPTIONS: ReadonlySet<string> = new Set([
  'store',
  'peppers',
  'clock',
  'cache',
  'allowImported',
  'acceptPrefixes',
  'usageFlushIntervalMs',
  'usage',
  'onError',
  'changes',
  'limits',
  'impliedScopes',
  'audit',
])

function resolveImplied(
  implied: KeywardOptions['impliedScopes'],
): ReadonlyMap<string, readonly string[]> | null {
  if (implied === undefined) return null
  if (typeof implied !== 'object' || implied === null || Array.isArray(implied))
    throw new KeywardError(
      'invalid_options',
      '"impliedScopes" must be an object of scope -> implied scopes, e.g. { admin: ["keys:read"] }',
    )
  try {
    return compileImpliedScopes(implied)
  } catch (error) {
    throw new KeywardError('invalid_options', `"impliedScopes": ${(error as Error).message}`)
  }
}

/** The checked options: the verifier's, and the change feed. */
export interface ResolvedKeywardOptions {
  readonly verifier: VerifierOptions
  readonly changes: ChangeFeed | null
}

/** @throws KeywardError `invalid_options`, naming the option */
export function resolveKeywardOptions(options: KeywardOptions): ResolvedKeywardOptions {
  rejectUnknownOptions(options, KEYWARD_OPTIONS, 'createKeyward')
  if (!options.store || typeof options.store.findByHash !== 'function') {
    throw new KeywardError(
      'invalid_options',
      '"store" must be a keyward Store (e.g. createSqliteStore({ db }))',
    )
  }
  const hasher =
    'hash' in options.peppers ? options.peppers : createHasher(options.peppers as readonly Pepper[])
  if (options.acceptPrefixes) for (const p of options.acceptPrefixes) assertValidPrefix(p)
  const interval = positiveInt(options.usageFlushIntervalMs ?? 10_000, '"usageFlushIntervalMs"')
  if (options.changes !== undefined && !isChangeFeed(options.changes))
    throw new KeywardError(
      'invalid_options',
      '"changes" must be a ChangeFeed (publish, subscribe, close), e.g. createPostgresChangeFeed({ pool })',
    )
  return {
    verifier: {
      store: options.store,
      hasher,
      clock: options.clock ?? systemClock,
      cache: options.cache ?? {},
      allowImported: options.allowImported ?? true,
      acceptPrefixes: options.acceptPrefixes ? new Set(options.acceptPrefixes) : null,
      limits: resolveLimitPolicy(options.limits),
      impliedScopes: resolveImplied(options.impliedScopes),
      usageFlushIntervalMs: interval,
      audit: resolveAudit(options.audit),
      usage: resolveUsageOptions(options.usage),
      onError: options.onError ?? (() => {}),
    },
    changes: options.changes ?? null,
  }
}
