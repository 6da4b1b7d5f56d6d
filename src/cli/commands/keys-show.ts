import type { Command } from 'commander'
import { KeywardError } from '../../core/errors.js'
import { isoTime, keyToJson } from '../../core/key-json.js'
import { type DbOptions, withKeyward } from '../context.js'
import {
  formatFields,
  formatRates,
  formatScopes,
  formatTime,
  formatTimeRelative,
} from '../format.js'
import { type CliContext, type CliIo, writeJson, writeLine } from '../io.js'
import { addDbOption, parseKeyId } from '../options.js'

export interface KeysShowOptions extends DbOptions {
  json?: boolean
}

export function notFound(id: string): KeywardError {
  return new KeywardError(
    'not_found',
    `no key with id ${id} in this database: see keyward keys list for the ids`,
  )
}

/** `keyward keys show ID`: one key with its secrets' hints, limits and usage. */
export async function keysShow(idArg: string, opts: KeysShowOptions, io: CliIo): Promise<number> {
  const id = parseKeyId(idArg)
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward, store }) => {
    const record = await keyward.getKey(id)
    if (record === null) throw notFound(id)
    const secrets = await store.listSecrets(id)
    const status = keyward.statusOf(record)
    if (opts.json) {
      writeJson(io, {
        ...keyToJson(record, status),
        secrets: secrets.map((s) => ({
          hint: s.hint,
          pepperVersion: s.pepperVersion,
          imported: s.imported,
          createdAt: isoTime(s.createdAt),
          expiresAt: isoTime(s.expiresAt),
        })),
      })
      return 0
    }
    const now = Date.now()
    writeLine(
      io,
      formatFields(
        [
          ['id', record.id],
          ['name', record.name],
          ['owner', record.ownerId ?? '-'],
          ['status', status],
          ['hint', record.hint],
          ['scopes', formatScopes(record)],
          ['limits', formatRates(record)],
          ['ip allowlist', record.ipAllowlist.length === 0 ? 'any' : record.ipAllowlist.join(', ')],
          ['metadata', JSON.stringify(record.metadata)],
          ['created', formatTime(record.createdAt)],
          ['expires', formatTimeRelative(record.expiresAt, now)],
          ['revoked', formatTime(record.revokedAt)],
          ['last used', formatTime(record.lastUsedAt, 'never')],
          ['uses', String(record.usageCount)],
        ],
        '',
      ),
    )
    writeLine(io)
    writeLine(io, 'secrets (stored as keyed hashes):')
    for (const s of secrets) {
      const until =
        s.expiresAt === null ? 'current' : `valid until ${formatTimeRelative(s.expiresAt, now)}`
      writeLine(
        io,
        `  ${s.hint}  created ${formatTime(s.createdAt)}  ${until}${s.imported ? '  imported' : ''}`,
      )
    }
    return 0
  })
}

export function registerKeysShow(keys: Command, ctx: CliContext): void {
  const cmd = keys
    .command('show')
    .description('show one key')
    .argument('<id>', 'key id (key_…)')
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (id: string, opts: KeysShowOptions) => {
    ctx.exitCode = await keysShow(id, opts, ctx.io)
  })
}
