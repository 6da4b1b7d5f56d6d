import type { Command } from 'commander'
import { formatDuration } from '../../core/duration.js'
import type { ExpiryPolicy } from '../../core/types.js'
import { CLI_ACTOR, type DbOptions, withKeyward } from '../context.js'
import { formatTable } from '../format.js'
import { type CliContext, type CliIo, UsageError, writeJson, writeLine } from '../io.js'
import { addDbOption, parseDurationOption } from '../options.js'

export interface PolicySetOptions extends DbOptions {
  maxAge?: string
  owner?: string
  json?: boolean
}

function policyJson(policy: ExpiryPolicy) {
  return {
    maxAge: policy.maxAgeMs === null ? null : formatDuration(policy.maxAgeMs),
    owners: Object.fromEntries(
      Object.entries(policy.owners).map(([o, ms]) => [o, formatDuration(ms)]),
    ),
  }
}

function printPolicy(io: CliIo, policy: ExpiryPolicy): void {
  const rows = [
    ['(global)', policy.maxAgeMs === null ? 'none' : formatDuration(policy.maxAgeMs)],
    ...Object.entries(policy.owners)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([o, ms]) => [o, formatDuration(ms)]),
  ]
  writeLine(io, formatTable(['owner', 'max age'], rows))
}

/**
 * `keyward policy set --max-age 90d [--owner O]`: the maximum age of a key's current secret
 * (`none` removes it). Keys past it are flagged in `keys list`, `keys show` and metrics.
 */
export async function policySet(opts: PolicySetOptions, io: CliIo): Promise<number> {
  if (opts.maxAge === undefined)
    throw new UsageError('policy set needs --max-age, e.g. --max-age 90d (or none to remove it)')
  const maxAgeMs = opts.maxAge === 'none' ? null : parseDurationOption('--max-age', opts.maxAge)
  if (opts.owner !== undefined && opts.owner.trim() === '')
    throw new UsageError('--owner must not be empty')
  return withKeyward(io, opts, {}, async ({ keyward }) => {
    const policy = await keyward.setExpiryPolicy(
      { ownerId: opts.owner ?? null, maxAgeMs },
      { actor: CLI_ACTOR },
    )
    if (opts.json) {
      writeJson(io, policyJson(policy))
      return 0
    }
    const whose = opts.owner === undefined ? 'Keys' : `Keys of ${opts.owner}`
    writeLine(
      io,
      maxAgeMs === null
        ? `${whose} have no maximum age of their own now.`
        : `${whose} are past the policy once their current secret is ${formatDuration(maxAgeMs)} old (rotate them).`,
    )
    printPolicy(io, policy)
    return 0
  })
}

/** `keyward policy show`: the maximum key age, global and per owner. */
export async function policyShow(opts: DbOptions & { json?: boolean }, io: CliIo): Promise<number> {
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const policy = await keyward.getExpiryPolicy()
    if (opts.json) writeJson(io, policyJson(policy))
    else printPolicy(io, policy)
    return 0
  })
}

export function registerPolicy(program: Command, ctx: CliContext): void {
  const policy = program
    .command('policy')
    .description('the expiry policy: a maximum age for keys, global or per owner')
  addDbOption(
    policy
      .command('set')
      .description('set the maximum age of a key\'s current secret; keys past it are flagged')
      .option('--max-age <duration>', 'e.g. 90d; none removes it')
      .option('--owner <owner>', "set this owner's own maximum age instead of the global one")
      .option('--json', 'print JSON'),
  ).action(async (opts: PolicySetOptions) => {
    ctx.exitCode = await policySet(opts, ctx.io)
  })
  addDbOption(
    policy.command('show').description('show the policy').option('--json', 'print JSON'),
  ).action(async (opts: DbOptions & { json?: boolean }) => {
    ctx.exitCode = await policyShow(opts, ctx.io)
  })
}
