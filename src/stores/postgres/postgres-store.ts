import { createHash } from 'node:crypto'
import type { Pool, PoolClient } from 'pg'
import { KeywardError } from '../../core/errors.js'
import { rotationConflict } from '../audit-query.js'
import { keyPage } from '../cursor.js'
import { KEY_COLUMNS, KEY_SELECT, SECRET_COLUMNS } from '../key-columns.js'
import type {
  KeyPage,
  KeyRecord,
  ListKeysQuery,
  SecretRecord,
  Store,
  UsageEntry,
} from '../types.js'
import { postgresAudit } from './audit.js'
import { describePoolTarget, toPostgresKeywardError } from './errors.js'
import {
  foundFromRow,
  keyFromRow,
  keyParams,
  patchSet,
  secretFromRow,
  secretParams,
} from './key-rows.js'
import { listKeysSql } from './list-keys.js'
import { migratePostgres } from './migrate.js'
import { type PostgresStoreOptions, resolveOptions } from './options.js'
import { postgresUsage } from './postgres-usage.js'
import { postgresSigningKeys } from './signing-keys.js'
import { fromJson } from './values.js'

const BATCH_ROWS = 5000

/**
 * A store on PostgreSQL through a pg Pool. Tables live in one schema (default `keyward`),
 * created by `migrate()` under an advisory lock, so several nodes may migrate at once.
 * `close()` also ends the pool unless `closePool: false`. When the pool has no `error`
 * listener, one is added: an idle connection dropped by the server then fails the next
 * call with `store_unavailable` instead of crashing the process.
 *
 * @example
 * import pg from 'pg'
 * const store = createPostgresStore({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) })
 * await store.migrate()
 * @throws KeywardError `invalid_options` for a bad pool or schema name
 */
export function createPostgresStore(options: PostgresStoreOptions): Store {
  const { pool, schema, closePool } = resolveOptions(options)
  const s = `"${schema}"`
  const target = describePoolTarget(pool.options ?? {})
  const fail = (e: unknown, conflict?: string): KeywardError =>
    toPostgresKeywardError(e, target, conflict)
  if (pool.listenerCount('error') === 0) pool.on('error', () => {})

  // Named statements are parsed once per connection; the schema is part of the text, so of the name.
  const tag = createHash('sha256').update(schema).digest('hex').slice(0, 12)
  // only what verification reads: this is the cold path
  const findByHashSql = `SELECT s.key_id AS id, k.name, k.owner_id, k.prefix, k.scopes, k.roles,
      k.rate_limits, k.quota, k.metadata, k.ip_allowlist, k.state, k.expires_at,
      s.expires_at AS s_expires_at
    FROM ${s}.secrets s JOIN ${s}.keys k ON k.id = s.key_id WHERE s.hash = $1`
  let closed = false

  async function guard<T>(fn: () => Promise<T>): Promise<T> {
    if (closed) throw new KeywardError('store_unavailable', 'the PostgreSQL store is closed')
    try {
      return await fn()
    } catch (e) {
      throw fail(e)
    }
  }

  async function transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect()
    let broken: Error | undefined
    // pg leaves a checked-out client without an 'error' listener: a connection lost in the
    // middle of a transaction would be an uncaught exception, ending the process. The query
    // in flight fails with the same error, which is what the caller gets.
    const onError = (error: Error) => {
      broken = error
    }
    client.on('error', onError)
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (e) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError
      })
      throw e
    } finally {
      client.removeListener('error', onError)
      // a connection that failed or could not roll back is destroyed, never reused
      client.release(broken)
    }
  }

  const signingKeys = postgresSigningKeys(pool, s, schema, transaction)

  /** A unique violation, phrased per constraint; the driver's detail (it holds the hash) is dropped. */
  function conflict(e: unknown): KeywardError {
    const err = e as { code?: string; constraint?: string; detail?: string; table?: string }
    if (err?.code !== '23505') return fail(e)
    const cause = { code: err.code, constraint: err.constraint, table: err.table }
    if (err.constraint === 'keys_pkey') {
      const id = /\((key_[0-9A-Za-z]{16})\)/.exec(err.detail ?? '')?.[1]
      return new KeywardError(
        'store_conflict',
        id ? `a key with id ${id} already exists` : 'a key with this id already exists',
        { cause },
      )
    }
    if (err.constraint === 'audit_id_key') {
      const id = /\((evt_[0-9A-Za-z]+)\)/.exec(err.detail ?? '')?.[1]
      return new KeywardError(
        'store_conflict',
        `an audit event with id ${id ?? 'in this batch'} already exists`,
        { cause },
      )
    }
    return new KeywardError('store_conflict', 'this secret is already stored', { cause })
  }

  async function insertRows(
    c: PoolClient,
    rows: readonly { key: KeyRecord; secret: SecretRecord }[],
  ): Promise<void> {
    const k: unknown[][] = Array.from({ length: 18 }, () => [])
    const sec: unknown[][] = Array.from({ length: 7 }, () => [])
    for (const { key, secret } of rows) {
      const kv = keyParams(key)
      for (let i = 0; i < 18; i++) k[i]!.push(kv[i])
      const sv = secretParams(secret)
      for (let i = 0; i < 7; i++) sec[i]!.push(sv[i])
    }
    // One statement per table whatever the row count: each column is one array parameter.
    await c.query(
      `INSERT INTO ${s}.keys (${KEY_COLUMNS})
       SELECT c1, c2, c3, c4, c5, c6::jsonb, c7::jsonb, c8::jsonb, c9::jsonb, c10::jsonb, c11::jsonb, c12, c13, c14, c15, c16, c17, c18
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                   $10::text[], $11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[])
         AS t(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18)`,
      k,
    )
    await c.query(
      `INSERT INTO ${s}.secrets (${SECRET_COLUMNS})
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::boolean[], $6::bigint[], $7::bigint[])`,
      sec,
    )
  }

  const audit = postgresAudit({ pool, s, transaction, conflict, guard })
  const appendIn = audit.appendIn

  /** Adds per-key counts and raises last-used times: one statement. */
  async function countUsage(
    c: Pick<Pool | PoolClient, 'query'>,
    entries: readonly UsageEntry[],
  ): Promise<void> {
    if (entries.length === 0) return
    await c.query(
      `UPDATE ${s}.keys k
       SET usage_count = k.usage_count + u.count,
           last_used_at = GREATEST(k.last_used_at, u.last_used_at)
       FROM (SELECT id, sum(count)::bigint AS count, max(last_used_at) AS last_used_at
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(id, count, last_used_at)
             GROUP BY id) u
       WHERE k.id = u.id`,
      [entries.map((e) => e.keyId), entries.map((e) => e.count), entries.map((e) => e.lastUsedAt)],
    )
  }
  const usage = postgresUsage(s)

  return {
    kind: 'postgres',
    async migrate() {
      await guard(async () => {
        await migratePostgres(transaction, s, schema)
      })
    },
    async insertKey(key, secret, events = []) {
      await guard(() =>
        transaction(async (c) => {
          await insertRows(c, [{ key, secret }]).catch((e) => Promise.reject(conflict(e)))
          await appendIn(c, events)
        }),
      )
    },
    async insertKeys(rows) {
      if (rows.length === 0) return guard(async () => undefined)
      await guard(() =>
        transaction(async (c) => {
          for (let i = 0; i < rows.length; i += BATCH_ROWS) {
            await insertRows(c, rows.slice(i, i + BATCH_ROWS)).catch((e) =>
              Promise.reject(conflict(e)),
            )
          }
        }),
      )
    },
    async findByHash(hash) {
      return guard(async () => {
        const { rows } = await pool.query({
          name: `keyward_find_by_hash_${tag}`,
          text: findByHashSql,
          values: [hash],
        })
        const r = rows[0]
        return r === undefined ? null : foundFromRow(r)
      })
    },
    async getKey(id) {
      return guard(async () => {
        const { rows } = await pool.query(`SELECT ${KEY_SELECT} FROM ${s}.keys WHERE id = $1`, [id])
        return rows[0] === undefined ? null : keyFromRow(rows[0])
      })
    },
    async listKeys(query: ListKeysQuery): Promise<KeyPage> {
      return guard(async () => {
        const { text, values } = listKeysSql(s, query)
        const { rows } = await pool.query(text, values)
        return keyPage(rows, query.limit, keyFromRow)
      })
    },
    async updateKey(id, patch, auditOf) {
      return guard(async () => {
        const values: unknown[] = [id]
        const update = `UPDATE ${s}.keys SET ${patchSet(patch, values)} WHERE id = $1 RETURNING ${KEY_SELECT}`
        if (auditOf === undefined) {
          const { rows } = await pool.query(update, values)
          return rows[0] === undefined ? null : keyFromRow(rows[0])
        }
        return transaction(async (c) => {
          const before = await c.query(
            `SELECT ${KEY_SELECT} FROM ${s}.keys WHERE id = $1 FOR UPDATE`,
            [id],
          )
          if (before.rows[0] === undefined) return null
          const { rows } = await c.query(update, values)
          const after = keyFromRow(rows[0])
          await appendIn(c, auditOf(keyFromRow(before.rows[0]), after))
          return after
        })
      })
    },
    async listSecrets(keyId) {
      return guard(async () => {
        const { rows } = await pool.query(
          `SELECT ${SECRET_COLUMNS}, last_used_at FROM ${s}.secrets WHERE key_id = $1 ORDER BY created_at DESC`,
          [keyId],
        )
        return rows.map((r) => secretFromRow(r))
      })
    },
    async rotateSecret(r) {
      return guard(() =>
        transaction(async (c) => {
          // the row lock serialises two rotations of one key: the second reads the first's hint
          const found = await c.query(
            `SELECT ${KEY_SELECT} FROM ${s}.keys WHERE id = $1 FOR UPDATE`,
            [r.secret.keyId],
          )
          if (found.rows[0] === undefined) return null
          const before = keyFromRow(found.rows[0])
          if (before.hint !== r.expectHint || before.state === 'revoked')
            throw rotationConflict(before.id, before.state === 'revoked')
          const events = r.audit(before)
          await c.query(
            `UPDATE ${s}.secrets SET expires_at = $1 WHERE key_id = $2 AND (expires_at IS NULL OR expires_at > $1)`,
            [r.previousExpireAt, before.id],
          )
          const secret = r.secret
          await c
            .query(
              `INSERT INTO ${s}.secrets (${SECRET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
              secretParams(secret),
            )
            .catch((e) => Promise.reject(conflict(e)))
          const { rows } = await c.query(
            `UPDATE ${s}.keys SET hint = $2, updated_at = $3, rotated_at = $3 WHERE id = $1 RETURNING ${KEY_SELECT}`,
            [before.id, secret.hint, r.now],
          )
          await appendIn(c, events)
          return keyFromRow(rows[0])
        }),
      )
    },
    async endGracePeriods(keyId, now, auditOf) {
      return guard(() =>
        transaction(async (c) => {
          const found = await c.query(`SELECT 1 FROM ${s}.keys WHERE id = $1 FOR UPDATE`, [keyId])
          if (found.rowCount === 0) return null
          const r = await c.query(
            `UPDATE ${s}.secrets SET expires_at = $1 WHERE key_id = $2 AND expires_at IS NOT NULL AND expires_at > $1`,
            [now, keyId],
          )
          const ended = r.rowCount ?? 0
          if (ended > 0) await appendIn(c, auditOf(ended))
          return ended
        }),
      )
    },
    async recordUsage(entries, detail) {
      const cells = detail?.cells ?? []
      const secrets = detail?.secrets ?? []
      if (entries.length === 0 && cells.length === 0 && secrets.length === 0)
        return guard(async () => undefined)
      if (cells.length > 0 || secrets.length > 0)
        return guard(() =>
          transaction(async (c) => {
            await countUsage(c, entries)
            await usage.record(c, cells, secrets)
          }),
        )
      await guard(() => countUsage(pool, entries))
    },
    async summarizeUsage(query) {
      return guard(() => usage.summarize(pool, query))
    },
    async rollUpUsage(before, limit) {
      return guard(() => transaction((c) => usage.rollUp(c, before, limit)))
    },
    async pruneUsage(before, limit) {
      return guard(() => usage.prune(pool, before, limit))
    },
    ...audit.methods,
    async listRoles() {
      return guard(async () => {
        const { rows } = await pool.query(`SELECT name, scopes FROM ${s}.roles ORDER BY name`)
        return new Map(rows.map((r) => [r.name as string, fromJson<string[]>(r.scopes)]))
      })
    },
    async setRole(name, scopes, auditOf) {
      const upsert = `INSERT INTO ${s}.roles (name, scopes) VALUES ($1, $2::jsonb)
           ON CONFLICT (name) DO UPDATE SET scopes = excluded.scopes`
      if (auditOf === undefined) {
        await guard(() => pool.query(upsert, [name, JSON.stringify(scopes)]))
        return
      }
      await guard(() =>
        transaction(async (c) => {
          // a new role has no row to lock: concurrent first definitions are ordered by the chain
          const before = await c.query(`SELECT scopes FROM ${s}.roles WHERE name = $1 FOR UPDATE`, [
            name,
          ])
          const events = auditOf(
            before.rows[0] === undefined ? null : fromJson<string[]>(before.rows[0].scopes),
          )
          await c.query(upsert, [name, JSON.stringify(scopes)])
          await appendIn(c, events)
        }),
      )
    },
    async deleteRole(name, auditOf) {
      return guard(() =>
        transaction(async (c) => {
          const r = await c.query(`DELETE FROM ${s}.roles WHERE name = $1 RETURNING scopes`, [name])
          if (r.rows[0] === undefined) return false
          if (auditOf !== undefined)
            await appendIn(c, auditOf(fromJson<string[]>(r.rows[0].scopes)))
          return true
        }),
      )
    },
    async getMeta(name) {
      return guard(async () => {
        const { rows } = await pool.query(`SELECT value FROM ${s}.meta WHERE name = $1`, [name])
        return rows[0] === undefined ? null : (rows[0].value as string)
      })
    },
    async setMetaIfAbsent(name, value) {
      return guard(async () => {
        const { rows } = await pool.query(
          `WITH ins AS (
             INSERT INTO ${s}.meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value
           )
           SELECT value FROM ins UNION ALL SELECT value FROM ${s}.meta WHERE name = $1 LIMIT 1`,
          [name, value],
        )
        if (rows[0] !== undefined) return rows[0].value as string
        // The row was committed by a concurrent call after this statement's snapshot: read again.
        const again = await pool.query(`SELECT value FROM ${s}.meta WHERE name = $1`, [name])
        return again.rows[0].value as string
      })
    },
    async pepperVersions() {
      return guard(async () => {
        // A loose index scan: one index descent per distinct version.
        const { rows } = await pool.query(
          `WITH RECURSIVE v(x) AS (
             SELECT min(pepper_version) FROM ${s}.secrets
             UNION ALL
             SELECT (SELECT min(pepper_version) FROM ${s}.secrets WHERE pepper_version > x) FROM v WHERE x IS NOT NULL
           ) SELECT x FROM v WHERE x IS NOT NULL`,
        )
        return rows.map((r) => Number(r.x))
      })
    },
    async listSigningKeys() {
      return guard(() => signingKeys.list())
    },
    async insertFirstSigningKey(key) {
      return guard(() => signingKeys.insertFirst(key))
    },
    async rotateSigningKey(key, deleteRetiredBefore) {
      await guard(() => signingKeys.rotate(key, deleteRetiredBefore))
    },
    async close() {
      if (closed) return
      closed = true
      if (closePool && !pool.ending && !pool.ended) await pool.end()
    },
  }
}
