import type { Pool, PoolClient, QueryResultRow } from 'pg'
import { KeywardError } from '../../core/errors.js'
import {
  SIGNING_KEY_COLUMNS as COLUMNS,
  signingKeyParams as params,
} from '../signing-key-columns.js'
import type { SigningKeyRecord } from '../types.js'

const NEWEST_FIRST = 'ORDER BY created_at DESC, kid DESC'

const toNumber = (v: unknown): number => (typeof v === 'number' ? v : Number(v))

function fromRow(r: QueryResultRow): SigningKeyRecord {
  return {
    kid: r.kid,
    alg: r.alg,
    publicJwk: r.public_jwk,
    encryptedPrivateKey: r.encrypted_private_key,
    createdAt: toNumber(r.created_at),
    activatesAt: toNumber(r.activates_at),
    retiredAt: r.retired_at === null ? null : toNumber(r.retired_at),
  }
}

/** A unique violation on the kid, phrased; anything else unchanged (the store maps it). */
function kidConflict(e: unknown, kid: string): unknown {
  return (e as { code?: unknown })?.code === '23505'
    ? new KeywardError('store_conflict', `a signing key with kid ${kid} already exists`, {
        cause: { code: '23505' },
      })
    : e
}

/**
 * The signing-key methods of the PostgreSQL store; they throw driver errors, which the
 * store's guard maps. `s` is the quoted schema.
 */
export function postgresSigningKeys(
  pool: Pool,
  s: string,
  schema: string,
  transaction: <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>,
) {
  const insertSql = `INSERT INTO ${s}.signing_keys (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`
  return {
    async list(): Promise<SigningKeyRecord[]> {
      const { rows } = await pool.query(`SELECT ${COLUMNS} FROM ${s}.signing_keys ${NEWEST_FIRST}`)
      return rows.map(fromRow)
    },
    async insertFirst(key: SigningKeyRecord): Promise<SigningKeyRecord> {
      // The partial unique index admits one unretired key: a concurrent insert waits for the
      // other transaction and then does nothing; the next statement sees the winner.
      await pool
        .query(
          `${insertSql} ON CONFLICT ((retired_at IS NULL)) WHERE retired_at IS NULL DO NOTHING`,
          params(key),
        )
        .catch((e) => Promise.reject(kidConflict(e, key.kid)))
      const { rows } = await pool.query(
        `SELECT ${COLUMNS} FROM ${s}.signing_keys WHERE retired_at IS NULL ${NEWEST_FIRST} LIMIT 1`,
      )
      if (rows[0] === undefined)
        // only when a rotation retired the winner between the two statements, never in practice
        throw new KeywardError('store_conflict', 'the signing keys changed meanwhile: try again')
      return fromRow(rows[0])
    },
    async rotate(key: SigningKeyRecord, deleteRetiredBefore: number): Promise<void> {
      await transaction(async (c) => {
        // two rotations at once run one after the other: the second retires the first's key
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
          `keyward:signing-keys:${schema}`,
        ])
        await c.query(
          `DELETE FROM ${s}.signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1`,
          [deleteRetiredBefore],
        )
        await c.query(
          `UPDATE ${s}.signing_keys SET retired_at = $1 WHERE retired_at IS NULL OR retired_at > $1`,
          [key.activatesAt],
        )
        await c.query(insertSql, params(key)).catch((e) => Promise.reject(kidConflict(e, key.kid)))
      })
    },
  }
}
