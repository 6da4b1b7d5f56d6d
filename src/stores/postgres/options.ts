import type { Pool } from 'pg'
import { KeywardError } from '../../core/errors.js'
import { rejectUnknownOptions } from '../../core/options.js'

/** Options of `createPostgresStore`. */
export interface PostgresStoreOptions {
  /** A pg Pool the caller created (e.g. `new Pool({ connectionString })`). */
  pool: Pool
  /** Schema holding keyward's tables; must match `/^[A-Za-z_][A-Za-z0-9_]*$/`. Default `keyward`. */
  schema?: string
  /** End `pool` when the store is closed. Default true: the store owns what it was given. */
  closePool?: boolean
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const OPTION_NAMES = new Set(['pool', 'schema', 'closePool'])

/** `createPostgresStore`'s options, checked, with their defaults. */
export function resolveOptions(options: PostgresStoreOptions): Required<PostgresStoreOptions> {
  if (options === null || typeof options !== 'object')
    throw new KeywardError('invalid_options', 'createPostgresStore needs { pool }')
  rejectUnknownOptions(options, OPTION_NAMES, 'createPostgresStore')
  return {
    pool: checkPool(options.pool),
    schema: checkSchemaName(options.schema),
    closePool: options.closePool ?? true,
  }
}

/** The `pool` option, checked. */
export function checkPool(pool: Pool): Pool {
  if (!pool || typeof (pool as { query?: unknown }).query !== 'function')
    throw new KeywardError(
      'invalid_options',
      '"pool" must be a pg Pool, e.g. new Pool({ connectionString: process.env.DATABASE_URL })',
    )
  return pool
}

/** The `schema` option (default `keyward`), checked: it reaches SQL text. */
export function checkSchemaName(value: string | undefined): string {
  const schema = value ?? 'keyward'
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema) || schema.length > 63)
    throw new KeywardError(
      'invalid_options',
      `"schema" must match /^[A-Za-z_][A-Za-z0-9_]*$/ and be at most 63 characters, got ${JSON.stringify(schema)}`,
    )
  return schema
}
