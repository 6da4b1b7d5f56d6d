import { resolve } from 'node:path'
import { KeywardError } from '../core/errors.js'

/** The default database: an SQLite file in the working directory. */
export const DEFAULT_DATABASE_URL = 'sqlite:./keyward.db'

/** Where keys are stored, parsed from `--db` / `KEYWARD_DATABASE_URL`. */
export type DatabaseTarget =
  | {
      kind: 'sqlite'
      /** Absolute file path, or `:memory:`. */
      path: string
      /** What the user wrote, for messages. */
      display: string
    }
  | {
      kind: 'postgres'
      /** Connection string for `pg`, without keyward's own `schema` parameter. */
      connectionString: string
      /** PostgreSQL schema holding keyward's tables (`?schema=NAME`), or undefined for the default. */
      schema: string | undefined
      /** The URL without its password, for messages. */
      display: string
    }

const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

function badUrl(url: string, why: string): KeywardError {
  return new KeywardError(
    'invalid_options',
    `database URL ${JSON.stringify(redactDatabaseUrl(url))} ${why}: use sqlite:PATH (e.g. sqlite:./keyward.db), sqlite::memory: or postgres://USER@HOST:5432/DB`,
  )
}

/** A URL with its password replaced by `***`, safe to print. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@')
}

/**
 * Parses a database URL: `sqlite:PATH` (relative paths resolve against `cwd`),
 * `sqlite::memory:`, or `postgres://…` / `postgresql://…` with an optional keyward-specific
 * `?schema=NAME` parameter that selects the PostgreSQL schema holding keyward's tables.
 *
 * @example
 * parseDatabaseUrl('sqlite:./keyward.db') // { kind: 'sqlite', path: '/cwd/keyward.db', … }
 * parseDatabaseUrl('postgres://app@db:5432/keys?schema=keyward')
 * @throws KeywardError `invalid_options` naming the bad URL (password hidden) and the accepted forms
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseTarget {
  const text = url.trim()
  if (text === '') throw badUrl(url, 'is empty')
  if (text.startsWith('sqlite:')) {
    let path = text.slice('sqlite:'.length)
    if (path === ':memory:') return { kind: 'sqlite', path: ':memory:', display: 'sqlite::memory:' }
    // sqlite://relative and sqlite:///absolute are accepted too
    if (path.startsWith('//')) path = path.slice(2)
    if (path === '') throw badUrl(url, 'has no file path')
    return { kind: 'sqlite', path: resolve(cwd, path), display: path }
  }
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let parsed: URL
    try {
      parsed = new URL(text)
    } catch {
      throw badUrl(url, 'is not a valid URL')
    }
    if (parsed.hostname === '' && !parsed.searchParams.has('host')) throw badUrl(url, 'has no host')
    const schema = parsed.searchParams.get('schema') ?? undefined
    if (schema !== undefined && !SCHEMA_RE.test(schema)) {
      throw new KeywardError(
        'invalid_options',
        `schema ${JSON.stringify(schema)} in the database URL is not valid: use letters, digits and "_", starting with a letter or "_"`,
      )
    }
    parsed.searchParams.delete('schema')
    const connectionString = parsed.toString()
    const shown = new URL(connectionString)
    if (shown.password !== '') shown.password = '***'
    shown.search = ''
    return {
      kind: 'postgres',
      connectionString,
      schema,
      display: shown.toString() + (schema === undefined ? '' : ` (schema ${schema})`),
    }
  }
  throw badUrl(url, 'has an unknown scheme')
}

/** The database URL from an explicit value, `KEYWARD_DATABASE_URL`, or the default. */
export function resolveDatabaseUrl(
  explicit: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { url: string; isDefault: boolean } {
  if (explicit !== undefined) return { url: explicit, isDefault: false }
  const fromEnv = env.KEYWARD_DATABASE_URL
  if (fromEnv !== undefined && fromEnv !== '') return { url: fromEnv, isDefault: false }
  return { url: DEFAULT_DATABASE_URL, isDefault: true }
}
