import type { Command } from 'commander'
import { KeywardError } from '../../core/errors.js'
import { CLI_ACTOR, type DbOptions, withKeyward } from '../context.js'
import { formatTable } from '../format.js'
import { type CliContext, type CliIo, UsageError, writeJson, writeLine } from '../io.js'
import { addDbOption, collect, parseRoles, parseScopes } from '../options.js'

export interface RolesSetOptions extends DbOptions {
  scope?: string[]
}

/** `keyward roles set NAME --scope S…`: defines or replaces a role (a named set of scopes). */
export async function rolesSet(name: string, opts: RolesSetOptions, io: CliIo): Promise<number> {
  const [role] = parseRoles([name])
  const scopes = parseScopes(opts.scope)
  if (scopes.length === 0) {
    throw new UsageError(`role "${role}" needs at least one --scope, e.g. --scope orders:read`)
  }
  return withKeyward(io, opts, {}, async ({ keyward }) => {
    await keyward.setRole(role!, scopes, { actor: CLI_ACTOR })
    writeLine(io, `Role ${role} grants ${scopes.join(', ')}.`)
    return 0
  })
}

/** `keyward roles list`. */
export async function rolesList(opts: DbOptions & { json?: boolean }, io: CliIo): Promise<number> {
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    const roles = [...(await keyward.listRoles())].sort(([a], [b]) => a.localeCompare(b))
    if (opts.json) {
      writeJson(
        io,
        roles.map(([name, scopes]) => ({ name, scopes })),
      )
    } else if (roles.length === 0) {
      writeLine(io, 'No roles. Define one with: keyward roles set NAME --scope orders:read')
    } else {
      writeLine(
        io,
        formatTable(
          ['role', 'scopes'],
          roles.map(([n, s]) => [n, s.join(',')]),
        ),
      )
    }
    return 0
  })
}

/** `keyward roles delete NAME`: keys that listed the role lose its scopes. */
export async function rolesDelete(name: string, opts: DbOptions, io: CliIo): Promise<number> {
  const [role] = parseRoles([name])
  return withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
    if (!(await keyward.deleteRole(role!, { actor: CLI_ACTOR }))) {
      throw new KeywardError('not_found', `no role named ${role}: see keyward roles list`)
    }
    writeLine(io, `Deleted role ${role}.`)
    return 0
  })
}

export function registerRoles(program: Command, ctx: CliContext): void {
  const roles = program.command('roles').description('named sets of scopes that keys can grant')
  addDbOption(
    roles
      .command('set')
      .description('define or replace a role')
      .argument('<name>', 'role name, e.g. reader')
      .option('--scope <scope>', 'a scope the role grants (repeatable)', collect),
  ).action(async (name: string, opts: RolesSetOptions) => {
    ctx.exitCode = await rolesSet(name, opts, ctx.io)
  })
  addDbOption(
    roles.command('list').description('list roles').option('--json', 'print JSON'),
  ).action(async (opts: DbOptions & { json?: boolean }) => {
    ctx.exitCode = await rolesList(opts, ctx.io)
  })
  addDbOption(
    roles.command('delete').description('delete a role').argument('<name>', 'role name'),
  ).action(async (name: string, opts: DbOptions) => {
    ctx.exitCode = await rolesDelete(name, opts, ctx.io)
  })
}
