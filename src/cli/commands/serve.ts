import { Option, type Command } from 'commander'
import { ListenError, startService } from '../../server/serve.js'
import { resolveSettings, type SettingsInput, settingFlags } from '../../server/settings.js'
import { type CliContext, type CliIo, RefusedError } from '../io.js'
import { collect } from '../options.js'

/**
 * `keyward serve`: resolves the settings (flags, environment, config file), runs the service
 * until SIGTERM or SIGINT has drained it, and returns 0. A bad setting is a usage error (exit
 * 2), a port it cannot listen on a refusal (exit 1).
 */
export async function serve(
  flags: SettingsInput['flags'],
  io: CliIo,
  version: string,
): Promise<number> {
  const settings = resolveSettings({ flags, env: io.env, cwd: io.cwd })
  try {
    const running = await startService(settings, {
      stdout: io.stdout,
      stderr: io.stderr,
      env: io.env,
      cwd: io.cwd,
      version,
    })
    await running.stopped
    return 0
  } catch (error) {
    if (error instanceof ListenError) throw new RefusedError(error.message)
    throw error
  }
}

export function registerServe(program: Command, ctx: CliContext, version: string): void {
  const cmd = program
    .command('serve')
    .description('run the key service: admin API, verify API, health, OpenAPI')
  const attributes = new Map<string, string>()
  for (const f of settingFlags()) {
    const option = new Option(f.flag, f.help)
    if (f.repeat) option.argParser(collect)
    cmd.addOption(option)
    attributes.set(f.name, option.attributeName())
  }
  cmd.action(async (opts: Record<string, string | string[] | boolean | undefined>) => {
    const flags: SettingsInput['flags'] = {}
    for (const [name, attribute] of attributes) {
      const value = opts[attribute]
      if (value !== undefined) (flags as Record<string, unknown>)[name] = value
    }
    ctx.exitCode = await serve(flags, ctx.io, version)
  })
}
