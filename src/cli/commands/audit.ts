import type { Command } from 'commander'
import { isoTime } from '../../core/key-json.js'
import { type DbOptions, withKeyward } from '../context.js'
import { formatTable, formatTime } from '../format.js'
import { type CliContext, type CliIo, UsageError, writeJson, writeLine } from '../io.js'
import { addDbOption, parseDurationOption, parseKeyId } from '../options.js'

export interface AuditOptions extends DbOptions {
  key?: string
  since?: string
  limit?: string
  json?: boolean
}

/** `keyward audit`: who created, rotated, revoked or changed which key, newest first. */
export async function audit(opts: AuditOptions, io: CliIo): Promise<number> {
  const keyId = opts.key === undefined ? undefined : parseKeyId(opts.key)
  const since =
    opts.since === undefined ? undefined : Date.now() - parseDurationOption('--since', opts.since)
  const limit = opts.limit === undefined ? 100 : Number(opts.limit)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
    throw new UsageError(
      `--limit ${JSON.stringify(opts.limit)} is not valid: use a whole number from 1 to 10000`,
    )
  }
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const events = await keyward.listAudit({
      limit,
      ...(keyId === undefined ? {} : { keyId }),
      ...(since === undefined ? {} : { since }),
    })
    if (opts.json) {
      writeJson(
        io,
        events.map((e) => ({ ...e, at: isoTime(e.at) })),
      )
      return 0
    }
    if (events.length === 0) {
      writeLine(io, 'No audit events.')
      return 0
    }
    writeLine(
      io,
      formatTable(
        ['time', 'action', 'key', 'actor', 'details'],
        events.map((e) => [
          formatTime(e.at),
          e.action,
          e.keyId ?? '-',
          e.actor ?? '-',
          Object.keys(e.details).length === 0 ? '' : JSON.stringify(e.details),
        ]),
      ),
    )
    return 0
  })
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('audit')
    .description('show audit events, newest first')
    .option('--key <id>', 'only events of this key')
    .option('--since <duration>', 'only events this recent, e.g. 1h, 7d')
    .option('--limit <n>', 'at most this many events (default 100)')
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (opts: AuditOptions) => {
    ctx.exitCode = await audit(opts, ctx.io)
  })
}
