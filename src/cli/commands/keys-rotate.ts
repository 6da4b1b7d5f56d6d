import type { Command } from 'commander'
import { formatDuration } from '../../core/duration.js'
import { keyToJson } from '../../core/key-json.js'
import { CLI_ACTOR, type DbOptions, withKeyward } from '../context.js'
import { formatTimeRelative } from '../format.js'
import {
  type CliContext,
  type CliIo,
  RefusedError,
  UsageError,
  writeJson,
  writeLine,
} from '../io.js'
import { addDbOption, parseDurationOption, parseKeyId } from '../options.js'
import { keySummary } from './key-input.js'
import { notFound } from './keys-show.js'

export interface KeysRotateOptions extends DbOptions {
  grace?: string
  finish?: boolean
  json?: boolean
}

/** `keyward keys rotate ID --finish`: the old secrets stop now; no new secret. */
async function finishRotation(id: string, opts: KeysRotateOptions, io: CliIo): Promise<number> {
  if (opts.grace !== undefined)
    throw new UsageError('--finish ends the grace period now: it takes no --grace')
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const { record, ended } = await keyward.finishRotation(id, { actor: CLI_ACTOR })
    if (opts.json) {
      writeJson(io, { ...keyToJson(record, keyward.statusOf(record)), endedSecrets: ended })
      return 0
    }
    writeLine(
      io,
      ended === 0
        ? `Key ${record.id} (${record.name}) has no old secret in a grace period: nothing to finish.`
        : `Finished the rotation of key ${record.id} (${record.name}): ${ended} old secret${ended === 1 ? '' : 's'} stopped working now. Only ${record.hint} works.`,
    )
    return 0
  })
}

/** `keyward keys rotate ID`: a new secret, printed once; the old one verifies until the grace period ends. */
export async function keysRotate(
  idArg: string,
  opts: KeysRotateOptions,
  io: CliIo,
): Promise<number> {
  const id = parseKeyId(idArg)
  if (opts.finish) return finishRotation(id, opts, io)
  const graceMs = opts.grace === undefined ? 86_400_000 : parseGrace(opts.grace)
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const current = await keyward.getKey(id)
    if (current === null) throw notFound(id)
    if (current.state === 'revoked')
      throw new RefusedError(`key ${id} is revoked and cannot be rotated: create a new key instead`)
    const { key, record } = await keyward.rotateKey(id, { graceMs, actor: CLI_ACTOR })
    const now = Date.now()
    if (opts.json) {
      writeJson(io, {
        key,
        ...keyToJson(record, keyward.statusOf(record)),
        previousSecretExpiresAt: new Date(now + graceMs).toISOString(),
      })
      return 0
    }
    writeLine(io, `Rotated key ${record.id} (${record.name}). The new key:`)
    writeLine(io)
    writeLine(io, `    ${key}`)
    writeLine(io)
    writeLine(io, 'Copy it now: it will not be shown again.')
    writeLine(
      io,
      graceMs === 0
        ? 'The previous secret stopped working now.'
        : `The previous secret keeps working for ${formatDuration(graceMs)}, until ${formatTimeRelative(now + graceMs, now)}.`,
    )
    writeLine(io)
    writeLine(io, keySummary(record, now))
    return 0
  })
}

function parseGrace(text: string): number {
  // "0" is a valid grace period: the old secret stops at once
  return text === '0' ? 0 : parseDurationOption('--grace', text)
}

export function registerKeysRotate(keys: Command, ctx: CliContext): void {
  const cmd = keys
    .command('rotate')
    .description(
      'issue a new secret for a key; the old one keeps working for the grace period (--finish ends it)',
    )
    .argument('<id>', 'key id (key_…)')
    .option(
      '--grace <duration>',
      'how long the old secret keeps working, e.g. 24h, 0 (default 24h)',
    )
    .option(
      '--finish',
      'end the grace period of the old secrets now (once every caller uses the new one)',
    )
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (id: string, opts: KeysRotateOptions) => {
    ctx.exitCode = await keysRotate(id, opts, ctx.io)
  })
}
