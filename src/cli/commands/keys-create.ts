import type { Command } from 'commander'
import { keyToJson } from '../../core/key-json.js'
import { withKeyward } from '../context.js'
import { type CliContext, type CliIo, writeJson, writeLine } from '../io.js'
import { addDbOption, parsePrefix } from '../options.js'
import { addKeyInputOptions, type KeyInputOptions, keyInputFrom, keySummary } from './key-input.js'

export interface KeysCreateOptions extends KeyInputOptions {
  prefix?: string
}

/**
 * `keyward keys create`: creates a key and prints its secret once. Usage is validated before
 * the database is opened, so a typo never creates a database file.
 */
export async function keysCreate(opts: KeysCreateOptions, io: CliIo): Promise<number> {
  const input = keyInputFrom(opts)
  if (opts.prefix !== undefined) input.prefix = parsePrefix(opts.prefix)
  return withKeyward(io, opts, {}, async ({ keyward }) => {
    const { key, record } = await keyward.createKey(input)
    if (opts.json) {
      writeJson(io, { key, ...keyToJson(record, keyward.statusOf(record)) })
      return 0
    }
    writeLine(io, `Created key ${record.id} (${record.name}). The key:`)
    writeLine(io)
    writeLine(io, `    ${key}`)
    writeLine(io)
    writeLine(
      io,
      'Copy it now: it will not be shown again. keyward stores only a keyed hash of it;',
    )
    writeLine(io, 'a lost key cannot be recovered, only rotated (keyward keys rotate ID).')
    writeLine(io)
    writeLine(io, keySummary(record, Date.now()))
    return 0
  })
}

export function registerKeysCreate(keys: Command, ctx: CliContext): void {
  const cmd = keys
    .command('create')
    .description('create a key and print it once')
    .option('--prefix <prefix>', 'key prefix (default kw_live; kw_test for test keys)')
  addKeyInputOptions(cmd)
  addDbOption(cmd).action(async (opts: KeysCreateOptions) => {
    ctx.exitCode = await keysCreate(opts, ctx.io)
  })
}
