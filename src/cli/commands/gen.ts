import type { Command } from 'commander'
import { generateKey, generateUuidKey, keyHint } from '../../core/key-format.js'
import { type CliContext, type CliIo, UsageError, writeJson, writeLine } from '../io.js'
import { parsePrefix } from '../options.js'

export interface GenOptions {
  prefix?: string
  format?: string
  json?: boolean
}

/**
 * `keyward gen`: prints a fresh key, offline, without any store (for fixtures, or to import
 * elsewhere). Nothing is recorded: the key verifies nowhere until imported.
 */
export async function gen(opts: GenOptions, io: CliIo): Promise<number> {
  const format = opts.format ?? 'keyward'
  if (format !== 'keyward' && format !== 'uuid') {
    throw new UsageError(`--format ${JSON.stringify(format)} is not valid: use keyward or uuid`)
  }
  if (format === 'uuid' && opts.prefix !== undefined) {
    throw new UsageError('--prefix does not apply to --format uuid: UUID keys have no prefix')
  }
  const key =
    format === 'uuid'
      ? generateUuidKey()
      : generateKey(opts.prefix === undefined ? {} : { prefix: parsePrefix(opts.prefix) })
  if (opts.json) writeJson(io, { key, hint: keyHint(key), format })
  else writeLine(io, key)
  return 0
}

export function registerGen(program: Command, ctx: CliContext): void {
  program
    .command('gen')
    .description('print a fresh key (offline: nothing is stored)')
    .option('--prefix <prefix>', 'key prefix (default kw_live)')
    .option('--format <format>', 'keyward (default) or uuid')
    .option('--json', 'print JSON')
    .action(async (opts: GenOptions) => {
      ctx.exitCode = await gen(opts, ctx.io)
    })
}
