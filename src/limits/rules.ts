import { createHash } from 'node:crypto'
import { KeywardError } from '../core/errors.js'
import type { LimitRequest, PolicyState, QuotaRule, RateLimitRule } from './types.js'

// Shared by the backends: request validation, rule compilation and the reply layout, so the
// memory and Redis limiters cannot drift apart in what they accept or report.

/** A rule ready for GCRA in integer microseconds (see docs/limits.md). */
export interface CompiledRule {
  readonly name: string
  /** Redis hash field / memory map key of the rule's theoretical arrival time. */
  readonly field: string
  readonly limit: number
  readonly windowMs: number
  /** Emission interval T = ceil(windowMs * 1000 / limit) µs: one unit's worth of time. */
  readonly intervalUs: number
  /** Burst capacity in time, T * limit µs (windowMs * 1000 rounded up to a multiple of T). */
  readonly windowUs: number
}

export interface CompiledQuota {
  readonly limit: number
  readonly periodMs: number
  readonly periodUs: number
}

export interface CheckedRequest {
  readonly partition: string
  readonly rules: readonly CompiledRule[]
  readonly quota: CompiledQuota | null
  readonly cost: number
  readonly nowMs: number | undefined
  readonly idempotencyKey: string | undefined
  /**
   * With an idempotency key: the operation's fingerprint, 32 hex digits of its SHA-256 (what
   * the idempotency record holds: never the operation itself). Else undefined.
   */
  readonly operation: string | undefined
}

const RULE_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/
const MAX_PARTITION = 256
const MAX_COST = 1_000_000_000
const MAX_WINDOW_MS = 10 * 365 * 86_400_000
// Visible ASCII only: the key travels in an HTTP header and ends up in a Redis key name.
const IDEMPOTENCY_RE = /^[\x21-\x7e]{1,255}$/
/** Longest `operation`: a request line (Node caps headers at 16 KiB) plus a body hash fits. */
const MAX_OPERATION = 65_536
// A keyward secret is `<prefix>_` + 49 base62 characters; a partition must never hold one.
const SECRET_RE = /_[0-9A-Za-z]{49}$/

/** Builds the `invalid_argument` error of a malformed limiter request. */
export function badRequest(message: string): KeywardError {
  return new KeywardError('invalid_argument', message)
}

/** Builds the `invalid_options` error of a limiter factory. */
export function badOption(message: string): KeywardError {
  return new KeywardError('invalid_options', message)
}

function isPositiveInt(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= max
}

const ruleCache = new WeakMap<readonly RateLimitRule[], readonly CompiledRule[]>()
const quotaCache = new WeakMap<QuotaRule, CompiledQuota>()

/**
 * One shared value per content, for at most `capacity` distinct contents: past that the table
 * starts over (sharing only saves work, so forgetting costs nothing but that).
 */
export class Interner<T> {
  private readonly table = new Map<string, T>()

  constructor(private readonly capacity: number) {}

  /** The value first given for `content` (since the last start-over), else `value`. */
  intern(content: string, value: T): T {
    const known = this.table.get(content)
    if (known !== undefined) return known
    if (this.table.size >= this.capacity) this.table.clear()
    this.table.set(content, value)
    return value
  }
}

// Equal rule sets (and quotas) compile to one frozen object. Every key of a plan carries its own
// copy of the plan's rules, and the Redis limiter sends a rule set once per batch by identity
// (redis-wire.ts): shared, a batch for many keys of one plan carries the plan once, not once per
// key, and the script reads it once.
const internedRules = new Interner<readonly CompiledRule[]>(10_000)
const internedQuotas = new Interner<CompiledQuota>(10_000)

/**
 * Validates and compiles rules. Keys' rule arrays are frozen and reused across requests, so the
 * result is cached per array: validation costs nothing on the hot path.
 */
export function compileRules(rules: readonly RateLimitRule[]): readonly CompiledRule[] {
  const cached = ruleCache.get(rules)
  if (cached !== undefined) return cached
  if (!Array.isArray(rules))
    throw badRequest('"rules" must be an array of { name, limit, windowMs }')
  const seen = new Set<string>()
  const compiled = rules.map((rule: RateLimitRule): CompiledRule => {
    const { name, limit, windowMs } = rule ?? {}
    if (typeof name !== 'string' || !RULE_NAME_RE.test(name)) {
      throw badRequest(
        `rate limit name ${JSON.stringify(name)} is not valid: use 1-32 lowercase letters, digits, "_" or "-", starting with a letter`,
      )
    }
    if (seen.has(name)) throw badRequest(`rate limit "${name}" is given twice`)
    seen.add(name)
    if (!isPositiveInt(limit, MAX_COST)) {
      throw badRequest(
        `rate limit "${name}": "limit" must be a positive integer up to ${MAX_COST}, got ${JSON.stringify(limit)}`,
      )
    }
    if (!isPositiveInt(windowMs, MAX_WINDOW_MS)) {
      throw badRequest(
        `rate limit "${name}": "windowMs" must be a positive integer up to 10 years, got ${JSON.stringify(windowMs)}`,
      )
    }
    const intervalUs = Math.ceil((windowMs * 1000) / limit)
    return Object.freeze({
      name,
      field: `r:${name}`,
      limit,
      windowMs,
      intervalUs,
      windowUs: intervalUs * limit,
    })
  })
  // Names are [a-z0-9_-], so ':' and ',' cannot be confused within the content.
  const content = compiled.map((r) => `${r.name}:${r.limit}:${r.windowMs}`).join(',')
  const shared = internedRules.intern(content, Object.freeze(compiled))
  ruleCache.set(rules, shared)
  return shared
}

/** Validates and compiles a quota (cached per object, like rules). */
export function compileQuota(quota: QuotaRule): CompiledQuota {
  const cached = quotaCache.get(quota)
  if (cached !== undefined) return cached
  if (typeof quota !== 'object') throw badRequest('"quota" must be { limit, periodMs } or null')
  if (!isPositiveInt(quota.limit, Number.MAX_SAFE_INTEGER)) {
    throw badRequest(`quota "limit" must be a positive integer, got ${JSON.stringify(quota.limit)}`)
  }
  if (!isPositiveInt(quota.periodMs, MAX_WINDOW_MS)) {
    throw badRequest(
      `quota "periodMs" must be a positive integer up to 10 years, got ${JSON.stringify(quota.periodMs)}`,
    )
  }
  const compiled = internedQuotas.intern(
    `${quota.limit}:${quota.periodMs}`,
    Object.freeze({
      limit: quota.limit,
      periodMs: quota.periodMs,
      periodUs: quota.periodMs * 1000,
    }),
  )
  quotaCache.set(quota, compiled)
  return compiled
}

/**
 * Throws `invalid_argument` unless `partition` is 1-256 characters without control characters
 * and does not look like a keyward secret.
 */
export function checkPartition(partition: unknown): string {
  if (
    typeof partition !== 'string' ||
    partition.length === 0 ||
    partition.length > MAX_PARTITION ||
    /[\u0000-\u001f\u007f]/.test(partition)
  ) {
    throw badRequest(
      `"partition" must be 1-${MAX_PARTITION} characters without control characters (e.g. "key:<key id>"), got ${typeof partition === 'string' ? `${partition.length} characters` : typeof partition}`,
    )
  }
  if (SECRET_RE.test(partition)) {
    throw badRequest(
      '"partition" looks like an API key: partition by key id or owner id, never by the secret',
    )
  }
  return partition
}

const partitionCache = new Map<string, true>()

/** Validates a whole request once; partitions already seen skip their regular expressions. */
export function checkRequest(request: LimitRequest): CheckedRequest {
  if (typeof request !== 'object' || request === null) {
    throw badRequest(
      'consume() takes { partition, rules, quota?, cost?, idempotencyKey?, operation? }',
    )
  }
  // a frozen request (keyward builds one per key) cannot change: check it once
  const known = checkedCache.get(request)
  if (known !== undefined) return known
  const { partition, cost = 1, nowMs, idempotencyKey } = request
  if (partitionCache.get(partition) === undefined) {
    checkPartition(partition)
    // Bounded: the cache only saves a regex test, so dropping it wholesale is harmless.
    if (partitionCache.size >= 10_000) partitionCache.clear()
    partitionCache.set(partition, true)
  }
  if (cost !== 1 && !(Number.isSafeInteger(cost) && cost >= 0 && cost <= MAX_COST)) {
    throw badRequest(`"cost" must be an integer from 0 to ${MAX_COST}, got ${JSON.stringify(cost)}`)
  }
  if (nowMs !== undefined && !(Number.isSafeInteger(nowMs) && nowMs >= 0)) {
    throw badRequest(`"nowMs" must be epoch milliseconds, got ${JSON.stringify(nowMs)}`)
  }
  let operation: string | undefined
  if (idempotencyKey !== undefined) {
    if (!IDEMPOTENCY_RE.test(idempotencyKey)) {
      throw badRequest(
        `"idempotencyKey" must be 1-255 visible ASCII characters, got ${JSON.stringify(String(idempotencyKey).slice(0, 40))}`,
      )
    }
    operation = operationHash(request.operation)
  }
  const quota = request.quota == null ? null : compileQuota(request.quota)
  const checked: CheckedRequest = {
    partition,
    rules: compileRules(request.rules),
    quota,
    cost,
    nowMs,
    idempotencyKey,
    operation,
  }
  if (Object.isFrozen(request)) checkedCache.set(request, checked)
  return checked
}

const checkedCache = new WeakMap<object, CheckedRequest>()

/**
 * The fingerprint an idempotency record is bound to. Without an operation, a replay could not
 * tell a retry from another request under the same key, and a constant key would buy free
 * quota: the caller's bug is refused rather than guessed around (fail closed).
 */
function operationHash(operation: unknown): string {
  if (typeof operation !== 'string' || operation.length === 0 || operation.length > MAX_OPERATION) {
    throw badRequest(
      `"idempotencyKey" needs "operation", 1-${MAX_OPERATION} characters naming what the request does (e.g. "POST /orders" and a hash of its body), got ${operation === undefined ? 'none' : typeof operation === 'string' ? `${operation.length} characters` : typeof operation}: a replay is free of quota only for the same operation`,
    )
  }
  return createHash('sha256').update(operation).digest('hex').slice(0, 32)
}

/** A rate limit's state after a decision; every backend builds its policies here. */
export function rulePolicy(rule: CompiledRule, remaining: number, resetMs: number): PolicyState {
  return {
    kind: 'rate',
    name: rule.name,
    limit: rule.limit,
    windowMs: rule.windowMs,
    remaining,
    resetMs,
  }
}

/**
 * A rate limit's state when its TAT (after the decision) is `aheadUs` ahead of now: the one
 * derivation of remaining and reset, for memory decisions and Redis replies alike.
 */
export function rulePolicyAhead(rule: CompiledRule, aheadUs: number): PolicyState {
  return rulePolicy(
    rule,
    Math.floor((rule.windowUs - aheadUs) / rule.intervalUs),
    Math.ceil(aheadUs / 1000),
  )
}

/** The quota's state after a decision. */
export function quotaPolicy(quota: CompiledQuota, remaining: number, resetMs: number): PolicyState {
  return {
    kind: 'quota',
    name: 'quota',
    limit: quota.limit,
    windowMs: quota.periodMs,
    remaining,
    resetMs,
  }
}

/**
 * The partition of a verified key: its own id, or its owner's id when limits are shared by all
 * keys of an owner (so rotating or adding keys does not multiply the allowance).
 *
 * @example
 * limiter.consume({ partition: partitionOf(result.key, 'owner'), rules: result.key.rateLimits })
 */
export function partitionOf(
  key: { readonly id: string; readonly ownerId: string | null },
  shareBy: 'key' | 'owner' = 'key',
): string {
  return shareBy === 'owner' && key.ownerId !== null ? `owner:${key.ownerId}` : `key:${key.id}`
}
