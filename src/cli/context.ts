import {
  type OpenedKeyward,
  type OpenedStore,
  openKeyward,
  openStore,
  parseDatabaseUrl,
  resolveDatabaseUrl,
} from '../open/index.js'
import { userInfo } from 'node:os'
import type { CliIo } from './io.js'

/** The operating system user running the command, or null when it cannot be told. */
function osUser(): string | null {
  try {
    return userInfo().username || null
  } catch {
    // no passwd entry (some containers run as an unnamed uid)
    return process.env.USER || process.env.USERNAME || null
  }
}

/**
 * Who the audit trail records for changes made from the command line: `cli:<os user>`
 * (`cli` alone when the user cannot be told).
 */
export const CLI_ACTOR = ((user) => (user === null ? 'cli' : `cli:${user}`))(osUser())

export interface DbOptions {
  db?: string
}

/**
 * Opens keyward for one command and closes it afterwards (flushing usage counters).
 * `mustExist` is for read-only commands: a missing SQLite file is reported, not created.
 */
export async function withKeyward<T>(
  io: CliIo,
  options: DbOptions,
  mode: { mustExist?: boolean },
  fn: (opened: OpenedKeyward) => Promise<T>,
): Promise<T> {
  const opened = await openKeyward({
    ...(options.db === undefined ? {} : { databaseUrl: options.db }),
    env: io.env,
    cwd: io.cwd,
    warn: (message) => io.stderr.write(`${message}\n`),
    mustExist: mode.mustExist ?? false,
    // one command, one process: a cache would only hide what the store says
    keyward: { cache: false },
  })
  try {
    return await fn(opened)
  } finally {
    await opened.close()
  }
}

/** Opens only the store (no pepper needed), for `migrate`. */
export async function withStore<T>(
  io: CliIo,
  options: DbOptions,
  mode: { migrate: boolean },
  fn: (opened: OpenedStore) => Promise<T>,
): Promise<T> {
  const url = resolveDatabaseUrl(options.db, io.env).url
  const opened = await openStore(parseDatabaseUrl(url, io.cwd), { migrate: mode.migrate })
  try {
    return await fn(opened)
  } finally {
    await opened.close()
  }
}
