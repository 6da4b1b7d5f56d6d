import type { Command } from 'commander'
import { parseDuration } from '../core/duration.js'
import { KeywardError } from '../core/errors.js'
import { classifyCredential, isKeyId, isValidPrefix, keyHint } from '../core/key-format.js'
import { assertValidRole, assertValidScope } from '../core/scopes.js'
import type { KeyStatusFilter, QuotaRule, RateLimitRule } from '../core/types.js'
import { UsageError } from './io.js'

/** Commander collector for repeatable options (`--scope a --scope b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** Adds `--db URL` to a command that opens the store. */
export function addDbOption(cmd: Command): Command {
  return cmd.option(
    '--db <url>',
    'database: sqlite:PATH, sqlite::memory: or postgres://… (default: $KEYWARD_DATABASE_URL, then sqlite:./keyward.db)',
  )
}

/** Runs a core validator and turns its `invalid_argument` into a usage error. */
function usage(check: () => void): void {
  try {
    check()
  } catch (error) {
    if (error instanceof KeywardError) throw new UsageError(error.message)
    throw error
  }
}

export function parseScopes(values: readonly string[] | undefined): string[] {
  const scopes = values ?? []
  for (const s of scopes) usage(() => assertValidScope(s))
  return scopes.slice()
}

export function parseRoles(values: readonly string[] | undefined): string[] {
  const roles = values ?? []
  for (const r of roles) usage(() => assertValidRole(r))
  return roles.slice()
}

export function parseDurationOption(flag: string, text: string): number {
  try {
    return parseDuration(text, flag)
  } catch (error) {
    if (error instanceof KeywardError) throw new UsageError(error.message)
    throw error
  }
}

export function parsePrefix(text: string): string {
  if (!isValidPrefix(text)) {
    throw new UsageError(
      `--prefix ${JSON.stringify(text)} is not valid: use 1-16 lowercase letters or digits starting with a letter, optionally followed by _ and 1-16 more (e.g. "kw_live", "acme_test")`,
    )
  }
  return text
}

export function parseName(text: string | undefined): string {
  if (text === undefined || text.trim() === '')
    throw new UsageError('--name is required: give the key a name, e.g. --name billing')
  return text
}

const RATE_RE = /^(?:([a-z][a-z0-9_-]{0,31})=)?([1-9][0-9]{0,11})\/([^/]+)$/

/** `[NAME=]N/WINDOW`, e.g. `100/1m`, `burst=20/1s`; the name defaults to "default". */
export function parseRate(text: string): RateLimitRule {
  const m = RATE_RE.exec(text)
  if (!m) {
    throw new UsageError(
      `--rate ${JSON.stringify(text)} is not valid: use [NAME=]N/WINDOW with a lowercase name, a positive whole number and a duration, e.g. "100/1m" or "burst=20/1s"`,
    )
  }
  return {
    name: m[1] ?? 'default',
    limit: Number(m[2]),
    windowMs: parseDurationOption('--rate window', m[3]!),
  }
}

export function parseRates(values: readonly string[] | undefined): RateLimitRule[] {
  const rules = (values ?? []).map(parseRate)
  const seen = new Set<string>()
  for (const r of rules) {
    if (seen.has(r.name)) {
      throw new UsageError(
        `--rate "${r.name}" is given twice: name each limit, e.g. --rate burst=20/1s --rate hour=1000/1h`,
      )
    }
    seen.add(r.name)
  }
  return rules
}

/** `N/PERIOD`, e.g. `10000/30d`. */
export function parseQuota(text: string): QuotaRule {
  const m = /^([1-9][0-9]{0,14})\/([^/]+)$/.exec(text)
  if (!m) {
    throw new UsageError(
      `--quota ${JSON.stringify(text)} is not valid: use N/PERIOD with a positive whole number and a duration, e.g. "10000/30d"`,
    )
  }
  return { limit: Number(m[1]), periodMs: parseDurationOption('--quota period', m[2]!) }
}

export function parseMetadata(text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new UsageError(
      `--metadata is not valid JSON: give a JSON object, e.g. --metadata '{"team":"billing"}'`,
    )
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(
      `--metadata must be a JSON object, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}: e.g. --metadata '{"team":"billing"}'`,
    )
  }
  return value as Record<string, unknown>
}

const STATUSES: readonly KeyStatusFilter[] = ['active', 'revoked', 'expired', 'disabled']

export function parseStatus(text: string): KeyStatusFilter {
  if (!(STATUSES as readonly string[]).includes(text)) {
    throw new UsageError(
      `--status ${JSON.stringify(text)} is not valid: use active, revoked, expired or disabled`,
    )
  }
  return text as KeyStatusFilter
}

/** A value safe to echo in an error: anything that could be a secret is shortened to a hint. */
export function echo(value: string): string {
  return classifyCredential(value) === 'invalid' && value.length < 16
    ? JSON.stringify(value)
    : `"${keyHint(value)}"`
}

/** A key id argument (`key_` + 16 base62). A secret passed by mistake is never echoed. */
export function parseKeyId(text: string): string {
  if (isKeyId(text)) return text
  if (classifyCredential(text) === 'keyward') {
    throw new UsageError(
      'that argument is a secret key, not a key id: secrets never go on the command line (they land in shell history); pass the key id (key_…, see keyward keys list) instead',
    )
  }
  throw new UsageError(
    `${echo(text)} is not a key id: ids look like key_ followed by 16 letters and digits (see keyward keys list)`,
  )
}
