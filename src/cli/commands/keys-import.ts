import type { Command } from 'commander'
import { keyToJson } from '../../core/key-json.js'
import { withKeyward } from '../context.js'
import { type CliContext, type CliIo, readSecret, UsageError, writeJson, writeLine } from '../io.js'
import { addDbOption } from '../options.js'
import { addKeyInputOptions, type KeyInputOptions, keyInputFrom, keySummary } from './key-input.js'

/**
 * `keyward keys import`: stores an existing secret (e.g. a UUID a service already sends),
 * read from stdin, as a key. Only its keyed hash is kept.
 */
export async function keysImport(opts: KeyInputOptions, io: CliIo): Promise<number> {
  const input = keyInputFrom(opts)
  const secret = await readSecret(io, 'the existing secret')
  if (secret === '') {
    throw new UsageError(
      'no secret on stdin: pipe the existing secret in, e.g. printf %s "$OLD_KEY" | keyward keys import --name NAME',
    )
  }
  return withKeyward(io, opts, {}, async ({ keyward }) => {
    const record = await keyward.importKey(secret, input)
    if (opts.json) {
      writeJson(io, keyToJson(record, keyward.statusOf(record)))
      return 0
    }
    writeLine(
      io,
      `Imported the secret as key ${record.id} (${record.name}); only its keyed hash is stored.`,
    )
    writeLine(io)
    writeLine(io, keySummary(record, Date.now()))
    return 0
  })
}

export function registerKeysImport(keys: Command, ctx: CliContext): void {
  const cmd = keys
    .command('import')
    .description('import an existing secret read from stdin (e.g. a UUID key already in use)')
  addKeyInputOptions(cmd)
  addDbOption(cmd).action(async (opts: KeyInputOptions) => {
    ctx.exitCode = await keysImport(opts, ctx.io)
  })
}
