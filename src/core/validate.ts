// Input checks of key administration: each turns a caller's value into a stored one, or throws
// `invalid_argument` naming the field and what is allowed. One place for every rule, so the
// library, the CLI and the server refuse the same inputs with the same words.
import { KeywardError } from './errors.js'
import { assertValidIpEntry } from './ip.js'
import { assertValidScope } from './scopes.js'
import type { QuotaRule, RateLimitRule } from './types.js'

const MAX_TEXT = 200
const MAX_METADATA_BYTES = 4096
const RULE_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.getPrototypeOf(v) === Object.prototype
  )
}

/** The error of a bad argument. */
export function bad(message: string): KeywardError {
  return new KeywardError('invalid_argument', message)
}

/** A name or owner: 1-200 printable characters, trimmed. */
export function checkText(value: unknown, what: string): string {
  if (
    typeof value !== 'string' ||
    value.trim() === '' ||
    value.length > MAX_TEXT ||
    /[\u0000-\u001f\u007f]/.test(value)
  ) {
    throw bad(`${what} must be 1-${MAX_TEXT} printable characters, got ${JSON.stringify(value)}`)
  }
  return value.trim()
}

export function checkPositiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw bad(`${what} must be a positive whole number, got ${JSON.stringify(value)}`)
  }
  return value
}

/** Named rate limits: valid, distinct names; positive limits and windows. */
export function checkRateLimits(rules: readonly RateLimitRule[]): RateLimitRule[] {
  if (!Array.isArray(rules)) throw bad('rateLimits must be a list of { name, limit, windowMs }')
  const seen = new Set<string>()
  return rules.map((r: RateLimitRule) => {
    if (!isPlainObject(r)) throw bad('each rate limit must be { name, limit, windowMs }')
    if (typeof r.name !== 'string' || !RULE_NAME_RE.test(r.name)) {
      throw bad(
        `rate limit name ${JSON.stringify(r.name)} is not valid: use lowercase letters, digits, "_" or "-", starting with a letter`,
      )
    }
    if (seen.has(r.name))
      throw bad(
        `rate limit "${r.name}" is given twice: give each limit its own name (e.g. burst=20/1s, hour=1000/1h)`,
      )
    seen.add(r.name)
    return {
      name: r.name,
      limit: checkPositiveInt(r.limit, `rate limit "${r.name}" limit`),
      windowMs: checkPositiveInt(r.windowMs, `rate limit "${r.name}" window`),
    }
  })
}

export function checkQuota(quota: QuotaRule): QuotaRule {
  if (!isPlainObject(quota)) throw bad('quota must be { limit, periodMs }')
  return {
    limit: checkPositiveInt(quota.limit, 'quota limit'),
    periodMs: checkPositiveInt(quota.periodMs, 'quota period'),
  }
}

/** A JSON object of at most 4 KiB, without NUL; returned as a deep copy. */
export function checkMetadata(metadata: unknown): Record<string, unknown> {
  if (!isPlainObject(metadata)) throw bad('metadata must be a JSON object')
  const text = JSON.stringify(metadata)
  if (Buffer.byteLength(text) > MAX_METADATA_BYTES) {
    throw bad(
      `metadata is ${Buffer.byteLength(text)} bytes as JSON: keep it under ${MAX_METADATA_BYTES} bytes`,
    )
  }
  // PostgreSQL's jsonb cannot hold NUL, so no store may: refuse it here for every backend alike
  if (text.includes('\\u0000')) throw bad('metadata must not contain the NUL character (\\u0000)')
  return JSON.parse(text) as Record<string, unknown>
}

/** Valid scopes, without duplicates. */
export function checkScopes(scopes: readonly string[]): string[] {
  if (!Array.isArray(scopes)) throw bad('scopes must be a list of strings')
  for (const s of scopes) assertValidScope(s)
  return [...new Set(scopes)]
}

/** An absolute expiry in the future, epoch ms. */
export function checkExpiry(expiresAt: number, now: number): number {
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt))
    throw bad(`expiresAt must be epoch milliseconds, got ${JSON.stringify(expiresAt)}`)
  if (expiresAt <= now)
    throw bad(`expiresAt ${new Date(expiresAt).toISOString()} is in the past: give a future time`)
  return expiresAt
}

/** Addresses or CIDR ranges. */
export function checkIps(entries: readonly string[]): string[] {
  if (!Array.isArray(entries)) throw bad('ipAllowlist must be a list of addresses or CIDR ranges')
  for (const e of entries) assertValidIpEntry(e)
  return [...entries]
}
