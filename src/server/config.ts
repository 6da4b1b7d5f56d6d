import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { KeywardError } from '../core/errors.js'
import { MIN_PEPPER_LENGTH, type Pepper, parsePeppers } from '../core/hash.js'
import { createKeyward, type Keyward, type KeywardOptions } from '../core/keyward.js'
import type { Store } from '../core/types.js'

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
    `database URL ${JSON.stringify(redactUrl(url))} ${why}: use sqlite:PATH (e.g. sqlite:./keyward.db), sqlite::memory: or postgres://USER@HOST:5432/DB`,
  )
}

/** A URL with its password replaced by `***`, safe to print. */
export function redactUrl(url: string): string {
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

/** An opened store and what closes its connection. */
export interface OpenedStore {
  store: Store
  target: DatabaseTarget
  /** True when this open created the SQLite file. */
  created: boolean
  close(): Promise<void>
}

export interface OpenStoreOptions {
  /**
   * Refuse to create a missing SQLite file (`not_found`, saying how to create one): for
   * commands that only read.
   */
  mustExist?: boolean
  /**
   * Apply migrations. Default: true for SQLite (zero infrastructure), false for PostgreSQL,
   * where `keyward migrate` is an explicit step.
   */
  migrate?: boolean
  /** Largest PostgreSQL pool size. Default 4. */
  poolSize?: number
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return typeof code === 'string' && !error.message.includes(code)
      ? `${error.message} (${code})`
      : error.message
  }
  return String(error)
}

/** Finds a PostgreSQL error code (`42P01`, …) in an error or its causes. */
function pgCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

async function openSqlite(
  target: Extract<DatabaseTarget, { kind: 'sqlite' }>,
  options: OpenStoreOptions,
): Promise<OpenedStore> {
  const memory = target.path === ':memory:'
  const exists = memory ? false : existsSync(target.path)
  if (!memory) {
    if (!exists && options.mustExist) {
      throw new KeywardError(
        'not_found',
        `there is no keyward database at ${target.display}: create one with "keyward keys create --name NAME" or "keyward migrate", or point --db / KEYWARD_DATABASE_URL at an existing one`,
      )
    }
    if (exists && statSync(target.path).isDirectory()) {
      throw new KeywardError(
        'store_unavailable',
        `cannot open SQLite database ${target.display}: it is a directory, not a file`,
      )
    }
    const dir = dirname(target.path)
    if (!exists && !existsSync(dir)) {
      throw new KeywardError(
        'store_unavailable',
        `cannot create SQLite database ${target.display}: the directory ${dir} does not exist`,
      )
    }
  }
  const { default: Database } = await import('better-sqlite3')
  const { createSqliteStore, toSqliteKeywardError } = await import('../stores/sqlite/index.js')
  let db: import('better-sqlite3').Database
  try {
    db = new Database(target.path)
  } catch (error) {
    throw toSqliteKeywardError(error, target.path)
  }
  let store: Store
  try {
    store = createSqliteStore({ db })
    if (options.migrate ?? true) await store.migrate()
  } catch (error) {
    if (db.open) db.close()
    // the store's messages already name the file
    throw toSqliteKeywardError(error, target.path)
  }
  return {
    store,
    target,
    created: !memory && !exists,
    async close() {
      await store.close()
      if (db.open) db.close()
    },
  }
}

/** Adds where the failure happened to a store error, keeping its code. */
function withContext(error: unknown, where: string): KeywardError {
  // the stores' own messages already say where (host, port, file)
  if (error instanceof KeywardError) return error
  return new KeywardError('store_unavailable', `${where}: ${describeError(error)}`, {
    cause: error,
  })
}

async function openPostgres(
  target: Extract<DatabaseTarget, { kind: 'postgres' }>,
  options: OpenStoreOptions,
): Promise<OpenedStore> {
  let Pool: typeof import('pg').Pool
  try {
    Pool = (await import('pg')).default.Pool
  } catch (error) {
    throw new KeywardError(
      'invalid_options',
      'PostgreSQL support needs the "pg" driver, which cannot be loaded: install pg (npm install pg)',
      { cause: error },
    )
  }
  const { createPostgresStore } = await import('../stores/postgres/index.js')
  const pool = new Pool({
    connectionString: target.connectionString,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: 10_000,
  })
  // an idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process
  pool.on('error', () => {})
  const where = `PostgreSQL at ${target.display}`
  let store: Store
  try {
    store = createPostgresStore(
      target.schema === undefined ? { pool } : { pool, schema: target.schema },
    )
    if (options.migrate ?? false) {
      await store.migrate()
    } else {
      // a cheap read that fails clearly when the tables are not there yet
      await store.getMeta('schema_check')
    }
  } catch (error) {
    await pool.end().catch(() => {})
    const code = pgCode(error)
    if (code === '42P01' || code === '3F000') {
      throw new KeywardError(
        'store_unavailable',
        `${where} has no keyward tables yet: run "keyward migrate --db URL" once (with the same URL) to create them`,
        { cause: error },
      )
    }
    throw withContext(error, where)
  }
  return {
    store,
    target,
    created: false,
    async close() {
      await store.close()
      await pool.end().catch(() => {})
    },
  }
}

/**
 * Opens the store a database URL names: better-sqlite3 for `sqlite:` (migrated automatically),
 * a `pg` Pool for `postgres://` (`pg` is an optional peer dependency; run `keyward migrate`
 * first). Driver failures become `KeywardError`s with one clear sentence.
 *
 * @example
 * const { store, close } = await openStore('sqlite:./keyward.db')
 * @throws KeywardError `invalid_options`, `not_found` (with `mustExist`), `store_unavailable`, `store_corrupt`
 */
export async function openStore(
  url: string | DatabaseTarget,
  options: OpenStoreOptions = {},
): Promise<OpenedStore> {
  const target = typeof url === 'string' ? parseDatabaseUrl(url) : url
  return target.kind === 'sqlite' ? openSqlite(target, options) : openPostgres(target, options)
}

/** Where the pepper came from, for messages (never the pepper itself). */
export type PepperSource =
  | 'KEYWARD_PEPPER'
  | 'KEYWARD_PEPPER_FILE'
  | 'development file'
  | 'ephemeral'

export interface LoadedPeppers {
  peppers: Pepper[]
  source: PepperSource
  /** The file it was read from or written to, when any. */
  file?: string
}

/**
 * Reads a pepper file: contents trimmed, refused when other users may read it (a pepper
 * that any local account can read protects nothing), when missing, or when empty.
 *
 * @throws KeywardError `invalid_options` naming the file and the fix
 */
export function readPepperFile(file: string, source = 'KEYWARD_PEPPER_FILE'): Pepper[] {
  let mode: number
  try {
    const st = statSync(file)
    if (!st.isFile()) {
      throw new KeywardError('invalid_options', `${source} ${file} is not a regular file`)
    }
    mode = st.mode & 0o777
  } catch (error) {
    if (error instanceof KeywardError) throw error
    throw new KeywardError(
      'invalid_options',
      `${source} ${file} cannot be read: ${describeError(error)}`,
      { cause: error },
    )
  }
  if ((mode & 0o077) !== 0) {
    throw new KeywardError(
      'invalid_options',
      `${source} ${file} is accessible by other users (mode ${mode.toString(8).padStart(4, '0')}): restrict it with "chmod 600 ${file}" (Kubernetes: defaultMode 0400; Docker: mode 0400)`,
    )
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new KeywardError(
      'invalid_options',
      `${source} ${file} cannot be read: ${describeError(error)}`,
      { cause: error },
    )
  }
  return parsePeppers(text.trim(), `${source} ${file}`)
}

/** A fresh pepper: 48 random bytes, base64url (64 characters). */
export function generatePepper(): string {
  return randomBytes(48).toString('base64url')
}

/** The development pepper file of an SQLite database: `<db path>.pepper`. */
export function devPepperPath(dbPath: string): string {
  return `${dbPath}.pepper`
}

/**
 * The pepper from `KEYWARD_PEPPER` or `KEYWARD_PEPPER_FILE` (one of them, never both), or
 * null when neither is set.
 *
 * @throws KeywardError `invalid_options`
 */
export function peppersFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): LoadedPeppers | null {
  const inline = env.KEYWARD_PEPPER
  const file = env.KEYWARD_PEPPER_FILE
  if (inline !== undefined && file !== undefined) {
    throw new KeywardError(
      'invalid_options',
      'both KEYWARD_PEPPER and KEYWARD_PEPPER_FILE are set: set only one of them',
    )
  }
  if (inline !== undefined)
    return { peppers: parsePeppers(inline, 'KEYWARD_PEPPER'), source: 'KEYWARD_PEPPER' }
  if (file !== undefined) {
    if (file.trim() === '')
      throw new KeywardError(
        'invalid_options',
        'KEYWARD_PEPPER_FILE is set but empty: give a file path',
      )
    return { peppers: readPepperFile(file), source: 'KEYWARD_PEPPER_FILE', file }
  }
  return null
}

export interface OpenKeywardOptions extends OpenStoreOptions {
  /** `sqlite:PATH`, `sqlite::memory:` or `postgres://…`; default from `env`, then `sqlite:./keyward.db`. */
  databaseUrl?: string
  /** Environment to read `KEYWARD_DATABASE_URL`, `KEYWARD_PEPPER`, `KEYWARD_PEPPER_FILE`, `NODE_ENV` from. */
  env?: Readonly<Record<string, string | undefined>>
  /** Receives warnings (a generated development pepper). Default: stderr. */
  warn?: (message: string) => void
  /** Passed to `createKeyward` (cache, clock, callbacks…). */
  keyward?: Omit<KeywardOptions, 'store' | 'peppers'>
}

export interface OpenedKeyward {
  keyward: Keyward
  store: Store
  target: DatabaseTarget
  pepperSource: PepperSource
  /** Flushes usage, stops timers, closes the store and its connection. */
  close(): Promise<void>
}

function noPostgresPepper(display: string): KeywardError {
  return new KeywardError(
    'invalid_options',
    `no pepper for ${display}: set KEYWARD_PEPPER (or KEYWARD_PEPPER_FILE) to a random secret of at least ${MIN_PEPPER_LENGTH} characters (e.g. openssl rand -base64 48); keyward generates one only for local SQLite files`,
  )
}

async function devPeppers(
  opened: OpenedStore,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
): Promise<LoadedPeppers> {
  const { target, store } = opened
  if (target.kind === 'postgres') throw noPostgresPepper(target.display)
  if (target.path === ':memory:') {
    // nothing outlives the process, so neither does its pepper
    return { peppers: [{ version: 1, secret: generatePepper() }], source: 'ephemeral' }
  }
  const file = devPepperPath(target.path)
  if (existsSync(file))
    return { peppers: readPepperFile(file, 'pepper file'), source: 'development file', file }
  if ((await store.getMeta('pepper_check_v1')) !== null) {
    throw new KeywardError(
      'pepper_mismatch',
      `the database ${target.display} was created with a pepper that is not here (no KEYWARD_PEPPER, no KEYWARD_PEPPER_FILE, no ${file}), so no stored key could verify: copy the original ${file} next to it or set KEYWARD_PEPPER to the original pepper`,
    )
  }
  if (env.NODE_ENV === 'production') {
    throw new KeywardError(
      'invalid_options',
      `no pepper set and NODE_ENV is production: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE (keyward generates a pepper only in development)`,
    )
  }
  const secret = generatePepper()
  try {
    // 'wx': never overwrite a pepper another process just wrote
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EEXIST')
      return { peppers: readPepperFile(file, 'pepper file'), source: 'development file', file }
    throw new KeywardError(
      'store_unavailable',
      `cannot write the development pepper ${file}: ${describeError(error)}`,
      { cause: error },
    )
  }
  warn(
    `keyward: generated a development pepper in ${file} (mode 0600). Keep it with the database: without it no key verifies. In production set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE instead.`,
  )
  return { peppers: [{ version: 1, secret }], source: 'development file', file }
}

/**
 * Turns settings into a ready `Keyward`: parses the database URL, opens the store (SQLite is
 * migrated automatically; PostgreSQL needs `keyward migrate`), loads the pepper from
 * `KEYWARD_PEPPER` or `KEYWARD_PEPPER_FILE`, or, for a development SQLite file, from
 * `<db path>.pepper` (generated with mode 0600 and a warning when missing), and checks the
 * pepper against the store.
 *
 * @example
 * const { keyward, close } = await openKeyward({ databaseUrl: 'sqlite:./keyward.db', env: process.env })
 * try { console.log((await keyward.verify(key)).ok) } finally { await close() }
 * @throws KeywardError `invalid_options` (URL, pepper), `not_found` (`mustExist`), `pepper_mismatch`, `store_unavailable`, `store_corrupt`
 */
export async function openKeyward(options: OpenKeywardOptions = {}): Promise<OpenedKeyward> {
  const env = options.env ?? process.env
  const warn = options.warn ?? ((message: string) => process.stderr.write(`${message}\n`))
  const url = resolveDatabaseUrl(options.databaseUrl, env).url
  const target = parseDatabaseUrl(url)
  // read the environment before touching the database: a bad setting must not create files
  const fromEnv = peppersFromEnv(env)
  if (fromEnv === null && target.kind === 'postgres') throw noPostgresPepper(target.display)
  const storeOptions: OpenStoreOptions = {}
  if (options.mustExist !== undefined) storeOptions.mustExist = options.mustExist
  if (options.migrate !== undefined) storeOptions.migrate = options.migrate
  if (options.poolSize !== undefined) storeOptions.poolSize = options.poolSize
  const opened = await openStore(target, storeOptions)
  try {
    const loaded = fromEnv ?? (await devPeppers(opened, env, warn))
    const keyward = await createKeyward({
      ...options.keyward,
      store: opened.store,
      peppers: loaded.peppers,
    })
    return {
      keyward,
      store: opened.store,
      target,
      pepperSource: loaded.source,
      async close() {
        try {
          await keyward.close()
        } finally {
          await opened.close()
        }
      },
    }
  } catch (error) {
    await opened.close().catch(() => {})
    throw error
  }
}
