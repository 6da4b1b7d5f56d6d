import type { Command } from 'commander'
import type { AuditListInput } from '../../core/audit-trail.js'
import { auditEventToJson } from '../../core/key-json.js'
import type { StoredAuditEvent } from '../../core/types.js'
import { type DbOptions, withKeyward } from '../context.js'
import { formatTable, formatTime } from '../format.js'
import { type CliContext, type CliIo, UsageError, writeJson, writeLine } from '../io.js'
import { addDbOption, parseDurationOption, parseKeyId } from '../options.js'

export interface AuditOptions extends DbOptions {
  key?: string
  actor?: string
  type?: string
  since?: string
  until?: string
  limit?: string
  json?: boolean
}

/** `--since 1h` (that long ago) or an ISO 8601 time, as epoch ms. */
function parseTimeOption(flag: string, text: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = Date.parse(text)
    if (Number.isNaN(ms))
      throw new UsageError(
        `${flag} ${JSON.stringify(text)} is not a valid time: use a duration ago (1h, 7d) or an ISO 8601 time (2026-01-31T12:00:00Z)`,
      )
    return ms
  }
  return now - parseDurationOption(flag, text)
}

/** `keyward audit`: who created, rotated, revoked or changed which key, and denials; newest first. */
export async function audit(opts: AuditOptions, io: CliIo): Promise<number> {
  const now = Date.now()
  const input: AuditListInput = {}
  if (opts.key !== undefined) input.keyId = parseKeyId(opts.key)
  if (opts.actor !== undefined) input.actor = opts.actor
  if (opts.type !== undefined) input.type = opts.type
  if (opts.since !== undefined) input.since = parseTimeOption('--since', opts.since, now)
  if (opts.until !== undefined) input.until = parseTimeOption('--until', opts.until, now)
  const limit = opts.limit === undefined ? 100 : Number(opts.limit)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
    throw new UsageError(
      `--limit ${JSON.stringify(opts.limit)} is not valid: use a whole number from 1 to 10000`,
    )
  }
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const events: StoredAuditEvent[] = []
    let cursor: string | undefined
    do {
      const page = await keyward.audit.page({
        ...input,
        limit: Math.min(1000, limit - events.length),
        ...(cursor === undefined ? {} : { cursor }),
      })
      events.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined && events.length < limit)
    if (opts.json) {
      writeJson(io, events.map(auditEventToJson))
      return 0
    }
    if (events.length === 0) {
      writeLine(io, 'No audit events.')
      return 0
    }
    writeLine(
      io,
      formatTable(
        ['time', 'type', 'key', 'actor', 'ip', 'count', 'details'],
        events.map((e) => [
          formatTime(e.at),
          e.action,
          e.keyId ?? '-',
          e.actor ?? '-',
          e.ip ?? '-',
          String(e.count),
          Object.keys(e.details).length === 0 ? '' : JSON.stringify(e.details),
        ]),
      ),
    )
    return 0
  })
}

export interface AuditVerifyOptions extends DbOptions {
  json?: boolean
}

/**
 * `keyward audit verify`: checks the hash chain. Exit 0 with the count when intact; exit 1
 * naming the first event deleted, edited or reordered.
 */
export async function auditVerify(opts: AuditVerifyOptions, io: CliIo): Promise<number> {
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const report = await keyward.audit.verify()
    if (opts.json) writeJson(io, report)
    else if (report.ok) {
      writeLine(
        io,
        report.checked === 0
          ? 'The audit trail is intact: there are no events to check.'
          : `The audit trail is intact: ${report.checked} event${report.checked === 1 ? '' : 's'} checked, seq ${report.anchor.seq + 1}-${report.head.seq}.`,
      )
      if (report.anchor.seq > 0)
        writeLine(
          io,
          `Events up to seq ${report.anchor.seq} were pruned (or predate the chain); checking starts after them.`,
        )
      writeLine(io, `Head: seq ${report.head.seq}, hash ${report.head.hash}`)
    } else {
      writeLine(io, `The audit trail was tampered with: ${report.break!.message}.`)
      writeLine(
        io,
        `${report.checked} event${report.checked === 1 ? '' : 's'} before it check out.`,
      )
    }
    return report.ok ? 0 : 1
  })
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('audit')
    .description('show audit events, newest first (admin changes and denials of known keys)')
    .option('--key <id>', 'only events of this key')
    .option('--actor <actor>', 'only events by this actor (an admin key id, or cli:<user>)')
    .option(
      '--type <type>',
      'only events of this type, e.g. key.rotated, key.denied, policy.changed',
    )
    .option('--since <time>', 'only events this recent (1h, 7d) or since an ISO 8601 time')
    .option('--until <time>', 'only events before this: a duration ago (1h) or an ISO 8601 time')
    .option('--limit <n>', 'at most this many events (default 100)')
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (opts: AuditOptions) => {
    ctx.exitCode = await audit(opts, ctx.io)
  })
  const verify = cmd
    .command('verify')
    .description('check the hash chain: exit 1 naming the first event deleted, edited or reordered')
    .option('--json', 'print the report as JSON')
  // `--db` given after `verify` may be taken by `audit`, which has one too: read both
  addDbOption(verify).action(async (_opts: AuditVerifyOptions, command: Command) => {
    const opts = command.optsWithGlobals() as AuditVerifyOptions & AuditOptions
    ctx.exitCode = await auditVerify(
      {
        ...(opts.db === undefined ? {} : { db: opts.db }),
        ...(opts.json === undefined ? {} : { json: opts.json }),
      },
      ctx.io,
    )
  })
}
