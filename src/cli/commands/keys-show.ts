import type { Command } from 'commander'
import { formatDuration } from '../../core/duration.js'
import { KeywardError } from '../../core/errors.js'
import { keyToJson, policyToJson, secretToJson } from '../../core/key-json.js'
import { maxAgeOf } from '../../core/policy.js'
import { type DbOptions, withKeyward } from '../context.js'
import {
  formatFields,
  formatRates,
  formatScopes,
  formatTable,
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

/**
 * `keyward keys show ID`: one key with its limits, usage, expiry policy standing, and every
 * secret: hint, created, until when it works, current or not, last used.
 */
export async function keysShow(idArg: string, opts: KeysShowOptions, io: CliIo): Promise<number> {
  const id = parseKeyId(idArg)
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward, store }) => {
    const record = await keyward.getKey(id)
    if (record === null) throw notFound(id)
    const [secrets, policy] = await Promise.all([
      store.listSecrets(id),
      keyward.getExpiryPolicy(),
    ])
    const status = keyward.statusOf(record)
    const now = Date.now()
    const pastPolicy = keyward.admin.isPastPolicy(record, policy)
    const maxAge = maxAgeOf(record, policy)
    if (opts.json) {
      writeJson(io, {
        ...keyToJson(record, status),
        pastPolicy,
        policy: policyToJson(maxAge, pastPolicy),
        secrets: secrets.map((s) => secretToJson(s, now)),
      })
      return 0
    }
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
          ['rotated', formatTime(record.rotatedAt ?? null, 'never')],
          [
            'max age',
            maxAge === null
              ? 'no policy'
              : `${formatDuration(maxAge)}${pastPolicy ? ' - PAST POLICY: rotate this key' : ''}`,
          ],
        ],
        '',
      ),
    )
    writeLine(io)
    writeLine(io, 'secrets (stored as keyed hashes), newest first:')
    writeLine(
      io,
      formatTable(
        ['hint', 'state', 'created', 'works until', 'last used'],
        secrets.map((s) => [
          `${s.hint}${s.imported ? ' (imported)' : ''}`,
          s.expiresAt === null ? 'current' : s.expiresAt > now ? 'grace period' : 'expired',
          formatTime(s.createdAt),
          s.expiresAt === null ? 'no end' : formatTimeRelative(s.expiresAt, now),
          formatTime(s.lastUsedAt ?? null, 'never'),
        ]),
      ),
    )
    if (secrets.some((s) => s.expiresAt !== null && s.expiresAt > now))
      writeLine(
        io,
        `Once every caller uses ${record.hint}: keyward keys rotate ${record.id} --finish`,
      )
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
