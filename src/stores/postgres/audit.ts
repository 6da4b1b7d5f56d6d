// The audit trail and expiry-policy parts of the PostgreSQL store: appends to the hash chain
// (inside the caller's transaction, holding the chain's head row lock until it commits, so
// several nodes still write one chain), listing, chain reads, pruning with an anchor, the
// policy, and the key counts for metrics.
import type { Pool, PoolClient, QueryResultRow } from 'pg'
import { chainEvents, EMPTY_CHAIN } from '../../core/audit-chain.js'
import { KeywardError } from '../../core/errors.js'
import { NOT_MIGRATED } from '../messages.js'
import type { AuditEvent, ExpiryPolicy, Store, StoredAuditEvent } from '../types.js'
import { fromJson, toNumber } from './values.js'

const AUDIT_COLUMNS = 'id, at, action, key_id, actor, details, ip, count, seq, prev_hash, hash'
/** The global maximum age's row in the policies table (owner ids are never empty). */
const GLOBAL_POLICY = ''

function auditFromRow(r: QueryResultRow): StoredAuditEvent {
  return {
    id: r.id,
    at: toNumber(r.at),
    action: r.action,
    keyId: r.key_id,
    actor: r.actor,
    details: fromJson(r.details),
    ip: r.ip,
    count: r.count,
    seq: toNumber(r.seq),
    // events stored before the chain existed (schema version 4) have no hashes
    prevHash: r.prev_hash ?? '',
    hash: r.hash ?? '',
  }
}

type AuditMethods = Pick<
  Store,
  | 'appendAudit'
  | 'listAudit'
  | 'readAuditChain'
  | 'auditChainState'
  | 'pruneAudit'
  | 'getExpiryPolicy'
  | 'setExpiryPolicy'
  | 'expiryCounts'
>

/** `s` is the quoted schema; `transaction`, `conflict` and `guard` are the store's. */
export function postgresAudit(options: {
  pool: Pool
  s: string
  transaction: <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>
  conflict: (e: unknown) => KeywardError
  guard: <T>(fn: () => Promise<T>) => Promise<T>
}): { appendIn(c: PoolClient, events: readonly AuditEvent[]): Promise<void>; methods: AuditMethods } {
  const { pool, s, transaction, conflict, guard } = options

  /**
   * Appends events after the chain's head inside transaction `c`. The head's row lock
   * serialises appenders of every node until `c` ends, so the chain stays one line.
   */
  async function appendIn(c: PoolClient, events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return
    const { rows } = await c.query(
      `SELECT head_seq, head_hash FROM ${s}.audit_chain WHERE id = 1 FOR UPDATE`,
    )
    const head = rows[0]
    if (head === undefined) throw new KeywardError('store_unavailable', NOT_MIGRATED)
    const stored = chainEvents({ seq: toNumber(head.head_seq), hash: head.head_hash }, events)
    await c
      .query(
        `INSERT INTO ${s}.audit (${AUDIT_COLUMNS})
         SELECT id, at, action, key_id, actor, details::jsonb, ip, count, seq, prev_hash, hash
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::int[], $9::bigint[], $10::text[], $11::text[])
           AS t(id, at, action, key_id, actor, details, ip, count, seq, prev_hash, hash)`,
        [
          stored.map((e) => e.id),
          stored.map((e) => e.at),
          stored.map((e) => e.action),
          stored.map((e) => e.keyId),
          stored.map((e) => e.actor),
          stored.map((e) => JSON.stringify(e.details)),
          stored.map((e) => e.ip),
          stored.map((e) => e.count),
          stored.map((e) => e.seq),
          stored.map((e) => e.prevHash),
          stored.map((e) => e.hash),
        ],
      )
      .catch((e) => Promise.reject(conflict(e)))
    const last = stored[stored.length - 1]!
    await c.query(`UPDATE ${s}.audit_chain SET head_seq = $1, head_hash = $2 WHERE id = 1`, [
      last.seq,
      last.hash,
    ])
  }


  const methods: AuditMethods = {
    async appendAudit(events) {
      if (events.length === 0) return guard(async () => undefined)
      await guard(() => transaction((c) => appendIn(c, events)))
    },
    async listAudit(query) {
      return guard(async () => {
        const where: string[] = []
        const values: unknown[] = []
        const param = (v: unknown): string => {
          values.push(v)
          return `$${values.length}`
        }
        if (query.keyId !== undefined) where.push(`key_id = ${param(query.keyId)}`)
        if (query.actor !== undefined) where.push(`actor = ${param(query.actor)}`)
        if (query.action !== undefined) where.push(`action = ${param(query.action)}`)
        if (query.since !== undefined) where.push(`at >= ${param(query.since)}`)
        if (query.until !== undefined) where.push(`at < ${param(query.until)}`)
        if (query.before !== undefined)
          where.push(`(at, seq) < (${param(query.before.at)}, ${param(query.before.seq)})`)
        const { rows } = await pool.query(
          `SELECT ${AUDIT_COLUMNS} FROM ${s}.audit
           ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY at DESC, seq DESC LIMIT ${param(query.limit)}`,
          values,
        )
        return rows.map(auditFromRow)
      })
    },
    async readAuditChain(afterSeq, limit) {
      return guard(async () => {
        const { rows } = await pool.query(
          `SELECT ${AUDIT_COLUMNS} FROM ${s}.audit WHERE seq > $1 ORDER BY seq LIMIT $2`,
          [afterSeq, limit],
        )
        return rows.map(auditFromRow)
      })
    },
    async auditChainState() {
      return guard(async () => {
        const { rows } = await pool.query(
          `SELECT anchor_seq, anchor_hash, head_seq, head_hash FROM ${s}.audit_chain WHERE id = 1`,
        )
        const r = rows[0]
        if (r === undefined) return { anchor: { ...EMPTY_CHAIN }, head: { ...EMPTY_CHAIN } }
        return {
          anchor: { seq: toNumber(r.anchor_seq), hash: r.anchor_hash as string },
          head: { seq: toNumber(r.head_seq), hash: r.head_hash as string },
        }
      })
    },
    async pruneAudit(before, limit) {
      return guard(() =>
        transaction(async (c) => {
          // the chain row is locked first, as appends do: no append interleaves with the prune
          const chain = await c.query(
            `SELECT anchor_seq FROM ${s}.audit_chain WHERE id = 1 FOR UPDATE`,
          )
          const { rows } = await c.query(
            `SELECT seq, at, hash FROM ${s}.audit ORDER BY seq LIMIT $1`,
            [limit],
          )
          let last: QueryResultRow | undefined
          for (const r of rows) {
            if (toNumber(r.at) >= before) break
            last = r
          }
          if (last === undefined) return 0
          const lastSeq = toNumber(last.seq)
          const deleted = await c.query(`DELETE FROM ${s}.audit WHERE seq <= $1`, [lastSeq])
          // events from before the chain (no hash) leave the anchor where it is
          if (lastSeq > toNumber(chain.rows[0]?.anchor_seq ?? 0))
            await c.query(
              `UPDATE ${s}.audit_chain SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1`,
              [lastSeq, last.hash],
            )
          return deleted.rowCount ?? 0
        }),
      )
    },
    async getExpiryPolicy() {
      return guard(async () => {
        const { rows } = await pool.query(
          `SELECT owner, max_age_ms FROM ${s}.policies ORDER BY owner`,
        )
        const policy: { maxAgeMs: number | null; owners: Record<string, number> } = {
          maxAgeMs: null,
          owners: {},
        }
        for (const r of rows) {
          if (r.owner === GLOBAL_POLICY) policy.maxAgeMs = toNumber(r.max_age_ms)
          else policy.owners[r.owner as string] = toNumber(r.max_age_ms)
        }
        return policy as ExpiryPolicy
      })
    },
    async setExpiryPolicy(ownerId, maxAgeMs, auditOf) {
      const owner = ownerId ?? GLOBAL_POLICY
      await guard(() =>
        transaction(async (c) => {
          const before = await c.query(
            `SELECT max_age_ms FROM ${s}.policies WHERE owner = $1 FOR UPDATE`,
            [owner],
          )
          const events = auditOf(
            before.rows[0] === undefined ? null : toNumber(before.rows[0].max_age_ms),
          )
          if (maxAgeMs === null)
            await c.query(`DELETE FROM ${s}.policies WHERE owner = $1`, [owner])
          else
            await c.query(
              `INSERT INTO ${s}.policies (owner, max_age_ms) VALUES ($1, $2)
               ON CONFLICT (owner) DO UPDATE SET max_age_ms = excluded.max_age_ms`,
              [owner, maxAgeMs],
            )
          await appendIn(c, events)
        }),
      )
    },
    async expiryCounts(now, withinMs) {
      return guard(async () => {
        const past = await pool.query(
          `SELECT
             (SELECT count(*) FROM ${s}.keys k
              WHERE coalesce(k.rotated_at, k.created_at) <= $1::bigint - (SELECT max_age_ms FROM ${s}.policies WHERE owner = '')
                AND k.state = 'active' AND (k.expires_at IS NULL OR k.expires_at > $1)
                AND (k.owner_id IS NULL OR k.owner_id NOT IN (SELECT owner FROM ${s}.policies WHERE owner <> '')))
           + (SELECT count(*) FROM ${s}.policies po JOIN ${s}.keys k
                ON k.owner_id = po.owner AND coalesce(k.rotated_at, k.created_at) <= $1::bigint - po.max_age_ms
              WHERE po.owner <> '' AND k.state = 'active' AND (k.expires_at IS NULL OR k.expires_at > $1)) AS n`,
          [now],
        )
        const expiring = await pool.query(
          `SELECT w, (SELECT count(*) FROM ${s}.keys
                      WHERE expires_at > $1 AND expires_at <= $1::bigint + w AND state = 'active') AS n
           FROM unnest($2::bigint[]) WITH ORDINALITY AS t(w, ord) ORDER BY ord`,
          [now, withinMs],
        )
        return {
          pastPolicy: toNumber(past.rows[0].n),
          expiring: expiring.rows.map((r) => toNumber(r.n)),
        }
      })
    },
  }
  return { appendIn, methods }
}
