import type { Command } from 'commander'
import { type DbOptions, withStore } from '../context.js'
import { type CliContext, type CliIo, writeLine } from '../io.js'
import { addDbOption } from '../options.js'

/** `keyward migrate`: creates or upgrades keyward's tables (needed once for PostgreSQL). */
export async function migrate(opts: DbOptions, io: CliIo): Promise<number> {
  return withStore(io, opts, { migrate: true }, async ({ target, created }) => {
    writeLine(
      io,
      `${created ? 'Created' : 'Migrated'} ${target.kind === 'sqlite' ? 'SQLite database' : 'PostgreSQL'} ${target.display}: the schema is up to date.`,
    )
    return 0
  })
}

export function registerMigrate(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('migrate')
    .description('create or upgrade the database tables (SQLite does this by itself)')
  addDbOption(cmd).action(async (opts: DbOptions) => {
    ctx.exitCode = await migrate(opts, ctx.io)
  })
}
