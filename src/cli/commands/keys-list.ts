import type { Command } from 'commander'
import type { ListKeysInput } from '../../core/key-admin.js'
import { keyToJson } from '../../core/key-json.js'
import type { KeyRecord } from '../../core/types.js'
import { type DbOptions, withKeyward } from '../context.js'
import { formatScopes, formatTable, formatTime } from '../format.js'
import { type CliContext, type CliIo, writeJson, writeLine } from '../io.js'
import {
  addDbOption,
  parseDurationOption,
  parsePrefix,
  parseScopes,
  parseStatus,
} from '../options.js'

export interface KeysListOptions extends DbOptions {
  owner?: string
  status?: string
  prefix?: string
  scope?: string
  expiring?: string
  json?: boolean
}

/** The filters of the command line as `listKeys` input (without paging). */
function filtersOf(opts: KeysListOptions): ListKeysInput {
  const filters: ListKeysInput = {}
  if (opts.owner !== undefined) filters.ownerId = opts.owner
  if (opts.status !== undefined) filters.status = parseStatus(opts.status)
  if (opts.prefix !== undefined) filters.prefix = parsePrefix(opts.prefix)
  if (opts.scope !== undefined) filters.scope = parseScopes([opts.scope])[0]!
  if (opts.expiring !== undefined)
    filters.expiringBefore = Date.now() + parseDurationOption('--expiring', opts.expiring)
  return filters
}

/** `keyward keys list`: every key (newest first) as a table or JSON. Never shows secrets. */
export async function keysList(opts: KeysListOptions, io: CliIo): Promise<number> {
  const filters = filtersOf(opts)
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const policy = await keyward.getExpiryPolicy()
    const records: KeyRecord[] = []
    let cursor: string | undefined
    do {
      const page = await keyward.listKeys({
        ...filters,
        limit: 1000,
        ...(cursor === undefined ? {} : { cursor }),
      })
      records.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    if (opts.json) {
      writeJson(
        io,
        records.map((r) => ({
          ...keyToJson(r, keyward.statusOf(r)),
          pastPolicy: keyward.admin.isPastPolicy(r, policy),
        })),
      )
      return 0
    }
    if (records.length === 0) {
      writeLine(
        io,
        Object.keys(filters).length > 0
          ? 'No keys match these filters.'
          : 'No keys. Create one with: keyward keys create --name NAME',
      )
      return 0
    }
    const rows = records.map((r) => [
      r.id,
      r.name,
      r.ownerId ?? '-',
      // a key whose secret is older than the expiry policy allows: rotate it
      `${keyward.statusOf(r)}${keyward.admin.isPastPolicy(r, policy) ? ' (past policy)' : ''}`,
      formatScopes(r),
      r.hint,
      formatTime(r.createdAt),
      formatTime(r.expiresAt, 'never'),
      formatTime(r.lastUsedAt, 'never'),
    ])
    writeLine(
      io,
      formatTable(
        ['id', 'name', 'owner', 'status', 'scopes', 'hint', 'created', 'expires', 'last used'],
        rows,
      ),
    )
    return 0
  })
}

export function registerKeysList(keys: Command, ctx: CliContext): void {
  const cmd = keys
    .command('list')
    .description('list keys (newest first)')
    .option('--owner <owner>', 'only keys of this owner')
    .option('--status <status>', 'only keys in this status: active, revoked, expired or disabled')
    .option('--prefix <prefix>', 'only keys with this prefix, e.g. kw_test')
    .option('--scope <scope>', 'only keys holding this scope themselves (exactly; roles aside)')
    .option(
      '--expiring <duration>',
      'only keys that expire within this time and have not expired yet, e.g. 7d',
    )
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (opts: KeysListOptions) => {
    ctx.exitCode = await keysList(opts, ctx.io)
  })
}
