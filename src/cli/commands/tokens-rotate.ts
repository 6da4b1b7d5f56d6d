import type { Command } from 'commander'
import { PUBLICATION_AFTER_RETIREMENT_MS } from '../../tokens/limits.js'
import { rotateSigningKey } from '../../tokens/signing-keys.js'
import { type DbOptions, withKeyward } from '../context.js'
import { formatTimeRelative } from '../format.js'
import { type CliContext, type CliIo, writeJson, writeLine } from '../io.js'
import { addDbOption, parseDurationOption } from '../options.js'

export interface TokensRotateOptions extends DbOptions {
  activateIn?: string
  force?: boolean
  json?: boolean
}

/**
 * `keyward tokens rotate-signing-key`: a new token signing key, published at once and signing
 * after `--activate-in` (default 60s) on every node; the previous key stops signing then and
 * stays in the JWKS until its last token has expired.
 */
export async function tokensRotate(opts: TokensRotateOptions, io: CliIo): Promise<number> {
  const activateInMs = parseActivateIn(opts.activateIn)
  return withKeyward(io, opts, { mustExist: true }, async ({ store, signingSecrets }) => {
    const now = Date.now()
    const rotated = await rotateSigningKey({
      store,
      secrets: signingSecrets,
      ...(activateInMs === undefined ? {} : { activateInMs }),
      ...(opts.force ? { force: true } : {}),
    })
    const publishedUntil = rotated.activatesAt + PUBLICATION_AFTER_RETIREMENT_MS
    if (opts.json) {
      writeJson(io, {
        kid: rotated.kid,
        activatesAt: new Date(rotated.activatesAt).toISOString(),
        retiring: rotated.retiring,
        retiringPublishedUntil: new Date(publishedUntil).toISOString(),
      })
      return 0
    }
    writeLine(
      io,
      `New token signing key ${rotated.kid}: published in the JWKS now, signing from ${formatTimeRelative(rotated.activatesAt, now)} on every node.`,
    )
    if (rotated.retiring.length > 0)
      writeLine(
        io,
        `${rotated.retiring.join(', ')} stop${rotated.retiring.length === 1 ? 's' : ''} signing then and stay${rotated.retiring.length === 1 ? 's' : ''} published until ${formatTimeRelative(publishedUntil, now)}, when every token signed with ${rotated.retiring.length === 1 ? 'it' : 'them'} has expired.`,
      )
    return 0
  })
}

function parseActivateIn(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  // "0": the new key signs at once (e.g. the current one leaked)
  return text === '0' ? 0 : parseDurationOption('--activate-in', text)
}

export function registerTokens(program: Command, ctx: CliContext): void {
  const tokens = program.command('tokens').description('token signing keys')
  const cmd = tokens
    .command('rotate-signing-key')
    .description('create a new token signing key; the current one retires with overlap')
    .option(
      '--activate-in <duration>',
      'how long the new key is published before it signs, e.g. 60s, 0 (default 60s)',
    )
    .option(
      '--force',
      'rotate even when the current key does not decrypt with this secret (a lost secret)',
    )
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (opts: TokensRotateOptions) => {
    ctx.exitCode = await tokensRotate(opts, ctx.io)
  })
}
