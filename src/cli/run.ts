import { createRequire } from 'node:module'
import { Command, CommanderError } from 'commander'
import { KeywardError } from '../core/errors.js'
import { registerAudit } from './commands/audit.js'
import { registerGen } from './commands/gen.js'
import { registerKeysCreate } from './commands/keys-create.js'
import { registerKeysImport } from './commands/keys-import.js'
import { registerKeysList } from './commands/keys-list.js'
import { registerKeysRevoke } from './commands/keys-revoke.js'
import { registerKeysRotate } from './commands/keys-rotate.js'
import { registerKeysShow } from './commands/keys-show.js'
import { registerKeysVerify } from './commands/keys-verify.js'
import { registerMigrate } from './commands/migrate.js'
import { registerPolicy } from './commands/policy.js'
import { registerRoles } from './commands/roles.js'
import { registerScan } from './commands/scan.js'
import { registerServe } from './commands/serve.js'
import { registerTokens } from './commands/tokens-rotate.js'
import { registerUsage } from './commands/usage.js'
import { type CliContext, type CliIo, InterruptedError, RefusedError, UsageError } from './io.js'
import { echo } from './options.js'

/** Exit codes of DESIGN.md: 0 ok, 1 refused (invalid key, not found, store error), 2 bad usage. */
export const EXIT_OK = 0
export const EXIT_REFUSED = 1
export const EXIT_USAGE = 2

function version(): string {
  try {
    // src/cli/run.ts and dist/cli/run.js both sit two levels below package.json
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}

/** Builds the `keyward` command tree; output goes to `ctx.io`, errors are thrown, not exited. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('keyward')
  program
    .description('API keys for server-to-server HTTP: create, verify, rotate, revoke, scan')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      // errors are printed once, as one line, by run()
      outputError: () => {},
    })
    .showHelpAfterError(false)
    .addHelpText(
      'after',
      `
Database: --db or KEYWARD_DATABASE_URL (sqlite:PATH, default sqlite:./keyward.db; postgres://…).
Pepper: KEYWARD_PEPPER or KEYWARD_PEPPER_FILE (a development pepper is generated next to a
SQLite file when neither is set). Secrets are read from stdin, never from arguments.
Exit codes: 0 ok, 1 refused (key invalid, not found, store error), 2 bad usage.`,
    )
  const keys = program
    .command('keys')
    .description('create, list, show, rotate, revoke, verify and import keys')
  registerKeysCreate(keys, ctx)
  registerKeysList(keys, ctx)
  registerKeysShow(keys, ctx)
  registerKeysRotate(keys, ctx)
  registerKeysRevoke(keys, ctx)
  registerKeysVerify(keys, ctx)
  registerKeysImport(keys, ctx)
  registerRoles(program, ctx)
  registerGen(program, ctx)
  registerScan(program, ctx)
  registerAudit(program, ctx)
  registerPolicy(program, ctx)
  registerUsage(program, ctx)
  registerTokens(program, ctx)
  registerMigrate(program, ctx)
  registerServe(program, ctx, version())
  return program
}

/** The (sub)command argv names and its path, for "see keyward keys create --help". */
function commandPath(program: Command, argv: readonly string[]): { path: string; cmd: Command } {
  const names = ['keyward']
  let cmd: Command = program
  for (const word of argv) {
    const sub: Command | undefined = cmd.commands.find((c) => c.name() === word)
    if (sub === undefined) break
    names.push(word)
    cmd = sub
  }
  return { path: names.join(' '), cmd }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

/** What a thrown error prints and which exit code it means. Never a stack trace by default. */
export function describeFailure(
  error: unknown,
  debug: boolean,
): { message: string; exitCode: number; details?: string } {
  const details = debug && error instanceof Error ? (error.stack ?? String(error)) : undefined
  const withDetails = <T extends { message: string; exitCode: number }>(r: T) =>
    details === undefined ? r : { ...r, details }
  if (error instanceof UsageError)
    return withDetails({ message: error.message, exitCode: EXIT_USAGE })
  if (error instanceof RefusedError)
    return withDetails({ message: error.message, exitCode: EXIT_REFUSED })
  // what a shell reports for a process ended by Ctrl-C (128 + SIGINT)
  if (error instanceof InterruptedError) return { message: 'interrupted', exitCode: 130 }
  if (error instanceof KeywardError) {
    const usage = error.code === 'invalid_argument' || error.code === 'invalid_options'
    const cause = debug && error.cause instanceof Error ? `\ncaused by: ${error.cause.stack}` : ''
    return {
      message: error.message,
      exitCode: usage ? EXIT_USAGE : EXIT_REFUSED,
      ...(debug ? { details: `${error.stack}${cause}` } : {}),
    }
  }
  const err = error instanceof Error ? error : new Error(String(error))
  const code = (err as { code?: unknown }).code
  const suffix = typeof code === 'string' && !err.message.includes(code) ? ` (${code})` : ''
  const driver = err.name === 'SqliteError' || typeof code === 'string'
  return withDetails({
    message: `${driver ? 'database error' : 'unexpected error'}: ${err.message}${suffix}${debug ? '' : '; set KEYWARD_DEBUG=1 for details'}`,
    exitCode: EXIT_REFUSED,
  })
}

/**
 * Runs the `keyward` command line with injected stdio and environment; returns the exit
 * code instead of exiting, so tests call it in-process.
 *
 * @example
 * const code = await run(['keys', 'list', '--json'], { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() })
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const ctx: CliContext = { io, exitCode: EXIT_OK }
  const program = buildProgram(ctx)
  const debug =
    io.env.KEYWARD_DEBUG !== undefined &&
    io.env.KEYWARD_DEBUG !== '' &&
    io.env.KEYWARD_DEBUG !== '0'
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return ctx.exitCode
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')
        return EXIT_OK
      // "keyward keys" without a subcommand: commander printed the help on stderr
      if (error.code === 'commander.help' || error.code === 'commander.executeSubCommandAsync')
        return EXIT_USAGE
      const { path, cmd } = commandPath(program, argv)
      let message = oneLine(error.message.replace(/^error: /, ''))
      if (error.code === 'commander.excessArguments') {
        const extra = cmd.args.slice(cmd.registeredArguments.length)
        message = `unexpected argument ${extra.map(echo).join(' ')}`
      }
      io.stderr.write(`keyward: ${message} (see ${path} --help)\n`)
      return EXIT_USAGE
    }
    const failure = describeFailure(error, debug)
    io.stderr.write(`keyward: ${oneLine(failure.message)}\n`)
    if (failure.details !== undefined) io.stderr.write(`${failure.details}\n`)
    return failure.exitCode
  }
}
