import type { PoolClient } from 'pg'
import { KeywardError } from '../../core/errors.js'
import { POSTGRES_MIGRATIONS } from './schema.js'

/**
 * Applies the migrations `schema` (quoted: `s`) lacks, each in its own transaction.
 *
 * @throws KeywardError `store_unavailable` when the schema is newer than this keyward; driver
 * errors as they are (the store's guard maps them)
 */
export async function migratePostgres(
  transaction: <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>,
  s: string,
  schema: string,
): Promise<void> {
  const latest = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]!.version
  for (const m of POSTGRES_MIGRATIONS) await transaction((c) => migrateOne(c, m, latest, s, schema))
}

async function migrateOne(
  c: PoolClient,
  m: (typeof POSTGRES_MIGRATIONS)[number],
  latest: number,
  s: string,
  schema: string,
): Promise<void> {
  // Serialises concurrent migrate() calls on this schema until the transaction ends.
  await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`keyward:migrate:${schema}`])
  await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`)
  await c.query(
    `CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
  )
  const { rows } = await c.query(`SELECT max(version) AS v FROM ${s}.migrations`)
  const current = rows[0]?.v === null || rows[0]?.v === undefined ? 0 : Number(rows[0].v)
  if (current > latest)
    throw new KeywardError(
      'store_unavailable',
      `schema ${schema} has keyward schema version ${current}, newer than this keyward (${latest}): upgrade keyward`,
    )
  if (current >= m.version) return
  await c.query(m.sql(s))
  await c.query(`INSERT INTO ${s}.migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [
    m.version,
    m.name,
    Date.now(),
  ])
}
