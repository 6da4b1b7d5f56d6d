import type { Command } from 'commander'
import type { CreateKeyInput } from '../../core/keyward.js'
import type { KeyRecord } from '../../core/types.js'
import { CLI_ACTOR, type DbOptions } from '../context.js'
import { formatFields, formatRates, formatScopes, formatTimeRelative } from '../format.js'
import {
  collect,
  parseDurationOption,
  parseMetadata,
  parseName,
  parseQuota,
  parseRates,
  parseRoles,
  parseScopes,
} from '../options.js'

/** Options shared by `keys create` and `keys import`. */
export interface KeyInputOptions extends DbOptions {
  name?: string
  owner?: string
  scope?: string[]
  role?: string[]
  expires?: string
  rate?: string[]
  quota?: string
  metadata?: string
  json?: boolean
}

export function addKeyInputOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'a name for the key (required)')
    .option('--owner <owner>', 'who holds the key, e.g. svc:billing')
    .option('--scope <scope>', 'a scope the key grants, e.g. orders:read (repeatable)', collect)
    .option(
      '--role <role>',
      'a role whose scopes the key grants (repeatable; see keyward roles)',
      collect,
    )
    .option('--expires <duration>', 'expire after this long, e.g. 90d, 24h, 15m (default: never)')
    .option(
      '--rate <[name=]n/window>',
      'rate limit, e.g. 100/1m or burst=20/1s (repeatable)',
      collect,
    )
    .option('--quota <n/period>', 'quota of requests per period, e.g. 10000/30d')
    .option('--metadata <json>', 'a JSON object attached to the key, e.g. \'{"team":"billing"}\'')
    .option('--json', 'print JSON')
}

/** Validates the options into a `CreateKeyInput`; bad values throw `UsageError`. */
export function keyInputFrom(opts: KeyInputOptions): CreateKeyInput {
  const input: CreateKeyInput = {
    name: parseName(opts.name),
    scopes: parseScopes(opts.scope),
    roles: parseRoles(opts.role),
    rateLimits: parseRates(opts.rate),
    actor: CLI_ACTOR,
  }
  if (opts.owner !== undefined) input.ownerId = opts.owner
  if (opts.expires !== undefined) input.expiresInMs = parseDurationOption('--expires', opts.expires)
  if (opts.quota !== undefined) input.quota = parseQuota(opts.quota)
  if (opts.metadata !== undefined) input.metadata = parseMetadata(opts.metadata)
  return input
}

/** The fields printed after a key is created, imported or rotated. */
export function keySummary(record: KeyRecord, now: number): string {
  return formatFields([
    ['id', record.id],
    ['name', record.name],
    ['hint', record.hint],
    ['owner', record.ownerId ?? '-'],
    ['scopes', formatScopes(record)],
    ['limits', formatRates(record)],
    ['expires', formatTimeRelative(record.expiresAt, now)],
  ])
}
