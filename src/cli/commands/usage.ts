import type { Command } from 'commander'
import { KeywardError } from '../../core/errors.js'
import { parseUsageRange, readKeyUsage } from '../../core/usage-report.js'
import { type DbOptions, withKeyward } from '../context.js'
import { formatTable, formatTime } from '../format.js'
import { type CliContext, type CliIo, UsageError, writeJson, writeLine } from '../io.js'
import { addDbOption, parseKeyId } from '../options.js'
import { notFound } from './keys-show.js'

export interface UsageOptions extends DbOptions {
  since?: string
  step?: string
  json?: boolean
}

/** Outcome columns: `valid` first, then the denial codes alphabetically. */
function codeColumns(totals: Record<string, number>): string[] {
  return Object.keys(totals).sort((a, b) =>
    a === 'valid' ? -1 : b === 'valid' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  )
}

/**
 * `keyward usage KEY_ID`: a key's verifications per time step and outcome, from the store
 * (what the servers have written: they write every few seconds).
 */
export async function usage(idArg: string, opts: UsageOptions, io: CliIo): Promise<number> {
  const id = parseKeyId(idArg)
  let range: ReturnType<typeof parseUsageRange>
  try {
    range = parseUsageRange({ since: opts.since, step: opts.step ?? '1h' }, Date.now())
  } catch (error) {
    if (error instanceof KeywardError && error.code === 'invalid_argument')
      throw new UsageError(error.message.replace(/^(since|step) /, '--$1 '))
    throw error
  }
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward, store }) => {
    if ((await keyward.getKey(id)) === null) throw notFound(id)
    const report = await readKeyUsage(store, id, range)
    if (opts.json) {
      writeJson(io, report)
      return 0
    }
    if (report.series.length === 0) {
      writeLine(io, `No usage of ${id} since ${formatTime(range.since)}.`)
      return 0
    }
    const codes = codeColumns(report.totals)
    const cell = (counts: Record<string, number>, code: string) => String(counts[code] ?? 0)
    writeLine(
      io,
      formatTable(
        ['time', ...codes],
        [
          ...report.series.map((p) => [
            formatTime(Date.parse(p.at)),
            ...codes.map((c) => cell(p.counts, c)),
          ]),
          ['total', ...codes.map((c) => cell(report.totals, c))],
        ],
      ),
    )
    writeLine(io, '')
    writeLine(io, `first IP  ${report.firstIp ?? '-'}`)
    writeLine(io, `last IP   ${report.lastIp ?? '-'}`)
    const routes = report.routes.map((r) => `${r.tag === '' ? '(untagged)' : r.tag} ${r.total}`)
    writeLine(io, `routes    ${routes.length === 0 ? '-' : routes.join(', ')}`)
    return 0
  })
}

export function registerUsage(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('usage')
    .description("show a key's verifications over time, by outcome")
    .argument('<id>', 'key id (key_…)')
    .option('--since <duration|time>', 'how far back: 1h, 24h, 30d or an ISO time (default 24h)')
    .option('--step <step>', 'rows per 1m, 1h or 1d (default 1h)')
    .option('--json', 'print JSON (the shape of GET /v1/keys/:id/usage)')
  addDbOption(cmd).action(async (id: string, opts: UsageOptions) => {
    ctx.exitCode = await usage(id, opts, ctx.io)
  })
}
