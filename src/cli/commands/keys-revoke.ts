import type { Command } from 'commander'
import { keyToJson } from '../../core/key-json.js'
import { CLI_ACTOR, type DbOptions, withKeyward } from '../context.js'
import { type CliContext, type CliIo, writeJson, writeLine } from '../io.js'
import { addDbOption, parseKeyId } from '../options.js'
import { notFound } from './keys-show.js'

export interface KeysRevokeOptions extends DbOptions {
  json?: boolean
}

/** `keyward keys revoke ID`: the key stops verifying; its record stays for the audit trail. */
export async function keysRevoke(
  idArg: string,
  opts: KeysRevokeOptions,
  io: CliIo,
): Promise<number> {
  const id = parseKeyId(idArg)
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const before = await keyward.getKey(id)
    if (before === null) throw notFound(id)
    const record = await keyward.revokeKey(id, { actor: CLI_ACTOR })
    if (opts.json) {
      writeJson(io, keyToJson(record, keyward.statusOf(record)))
      return 0
    }
    writeLine(
      io,
      before.state === 'revoked'
        ? `Key ${id} (${record.name}) was already revoked.`
        : `Revoked key ${id} (${record.name}). It no longer verifies.`,
    )
    return 0
  })
}

export function registerKeysRevoke(keys: Command, ctx: CliContext): void {
  const cmd = keys
    .command('revoke')
    .description('revoke a key (the record stays for the audit trail)')
    .argument('<id>', 'key id (key_…)')
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (id: string, opts: KeysRevokeOptions) => {
    ctx.exitCode = await keysRevoke(id, opts, ctx.io)
  })
}
