import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { memoryIo } from './io.js'
import { run } from './run.js'

/** What one in-process CLI run printed and returned. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs the CLI in-process with a string stdin and a given environment (nothing from
 * process.env), in a fresh empty working directory unless `cwd` is given.
 */
export async function runCli(
  argv: readonly string[],
  options: { stdin?: string; env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<CliResult> {
  const io = memoryIo(options)
  const code = await run(argv, io)
  return { code, stdout: io.out(), stderr: io.err() }
}

/** A fresh temporary directory, and an `sqlite:` URL of a database inside it. */
export function tempDb(name = 'keyward.db'): { dir: string; path: string; url: string } {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-cli-'))
  const path = join(dir, name)
  return { dir, path, url: `sqlite:${path}` }
}

/** A pepper long enough for tests, so no development pepper file is written. */
export const TEST_PEPPER = 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz'

/** Creates a key through the CLI (`--json`) and returns its secret and id. */
export async function createTestKey(
  dbUrl: string,
  args: readonly string[] = [],
  env: Record<string, string | undefined> = { KEYWARD_PEPPER: TEST_PEPPER },
): Promise<{ key: string; id: string }> {
  const r = await runCli(['keys', 'create', '--name', 'test', ...args, '--json', '--db', dbUrl], {
    env,
  })
  if (r.code !== 0) throw new Error(`keys create failed: ${r.stderr}`)
  const out = JSON.parse(r.stdout) as { key: string; id: string }
  return { key: out.key, id: out.id }
}
