import { existsSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { KeywardError } from '../core/errors.js'
import type { Store } from '../core/types.js'
import { type DatabaseTarget, parseDatabaseUrl } from './database-url.js'
import { describeError } from './describe-error.js'

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
        `cannot open SQLite database ${target.display}: it is a directory, not a file: name a file, e.g. sqlite:${join(target.display, 'keyward.db')}`,
      )
    }
    const dir = dirname(target.path)
    if (!exists && !existsSync(dir)) {
      throw new KeywardError(
        'store_unavailable',
        `cannot create SQLite database ${target.display}: the directory ${dir} does not exist: create it (mkdir -p ${dir}) or name a file in an existing directory`,
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
