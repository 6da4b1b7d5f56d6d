import type { Command } from 'commander'
import { KeywardError } from '../../core/errors.js'
import { type DbOptions, withKeyward } from '../context.js'
import { type CliContext, type CliIo, readSecret, writeJson, writeLine } from '../io.js'
import { addDbOption, collect, parseScopes } from '../options.js'

export interface KeysVerifyOptions extends DbOptions {
  scope?: string[]
  json?: boolean
}

/**
 * `keyward keys verify`: reads a key from stdin and runs the verify pipeline. Prints valid or
 * denied with the code and the key id (never the key); exit 0 when valid, 1 when denied.
 */
export async function keysVerify(opts: KeysVerifyOptions, io: CliIo): Promise<number> {
  const scopes = parseScopes(opts.scope)
  const secret = await readSecret(io, 'the key')
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    // an empty stdin is "no credential", exactly as a request without a key
    const result = await keyward.verify(secret === '' ? null : secret, { scopes })
    // a broken store is a failure to report, not an answer about the key
    if (!result.ok && result.code === 'store_unavailable') {
      throw result.cause instanceof Error
        ? result.cause
        : new KeywardError('store_unavailable', 'the store could not be reached')
    }
    if (result.ok) {
      const k = result.key
      if (opts.json) {
        writeJson(io, {
          valid: true,
          code: null,
          keyId: k.id,
          name: k.name,
          owner: k.ownerId,
          scopes: k.scopes,
        })
      } else {
        writeLine(
          io,
          `valid: key ${k.id} (${k.name}), owner ${k.ownerId ?? '-'}, scopes ${k.scopes.length === 0 ? '-' : k.scopes.join(',')}`,
        )
      }
      return 0
    }
    if (opts.json) {
      writeJson(io, {
        valid: false,
        code: result.code,
        keyId: result.keyId ?? null,
        ...(result.missingScopes ? { missingScopes: result.missingScopes } : {}),
      })
    } else {
      const parts = [`denied: ${result.code}`]
      if (result.keyId !== undefined) parts.push(`key ${result.keyId}`)
      if (result.missingScopes) parts.push(`missing ${result.missingScopes.join(',')}`)
      writeLine(io, parts.join(', '))
    }
    return 1
  })
}

export function registerKeysVerify(keys: Command, ctx: CliContext): void {
  const cmd = keys
    .command('verify')
    .description('verify a key read from stdin (exit 0 valid, 1 denied)')
    .option('--scope <scope>', 'a scope the key must grant (repeatable)', collect)
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (opts: KeysVerifyOptions) => {
    ctx.exitCode = await keysVerify(opts, ctx.io)
  })
}
