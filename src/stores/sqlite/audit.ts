// The audit trail and expiry-policy parts of the SQLite store: appends to the hash chain (inside
// the caller's IMMEDIATE transaction, so SQLite's write lock serialises appenders of every
// process), listing, chain reads, pruning with an anchor, the policy, and the key counts for
// metrics. Synchronous: the store runs these inside its guard.
import type Database from 'better-sqlite3'
import { chainEvents, EMPTY_CHAIN } from '../../core/audit-chain.js'
import type {
  AuditChainPoint,
  AuditChainState,
  AuditEvent,
  AuditOf,
  AuditQuery,
  ExpiryCounts,
  ExpiryPolicy,
  StoredAuditEvent,
} from '../types.js'

type Db = Database.Database
type Stmt = Database.Statement<unknown[], unknown>
type Row = unknown[]

const COLUMNS = 'id, at, action, key_id, actor, details, ip, count, seq, prev_hash, hash'
/** The global maximum age's row in the policies table (owner ids are never empty). */
const GLOBAL_POLICY = ''
const FILTERS = ['keyId', 'actor', 'action', 'since', 'until', 'before'] as const

function encodeDetails(v: Readonly<Record<string, unknown>>): string {
  for (const _ in v) return JSON.stringify(v)
  return '{}'
}

function fromRow(r: Row): StoredAuditEvent {
  const details = r[5] as string
  return {
    id: r[0] as string,
    at: r[1] as number,
    action: r[2] as string,
    keyId: r[3] as string | null,
    actor: r[4] as string | null,
    details: details === '{}' ? {} : JSON.parse(details),
    ip: r[6] as string | null,
    count: r[7] as number,
    seq: r[8] as number,
    // events stored before the chain existed (schema version 7) have no hashes
    prevHash: (r[9] as string | null) ?? '',
    hash: (r[10] as string | null) ?? '',
  }
}

/**
 * `fail(error, conflict)` turns a driver error into a KeywardError (`conflict` phrases a unique
 * violation). Statements are prepared on first use (the tables exist once migrated); `reset()`
 * after a migration.
 */
export function sqliteAudit(
  db: Db,
  p: string,
  fail: (error: unknown, conflict?: string) => Error,
) {
  let prepared: ReturnType<typeof prepare> | null = null
  function prepare() {
    const raw = (sql: string): Stmt => db.prepare(sql).raw(true)
    return {
      insert: db.prepare(
        `INSERT INTO ${p}audit (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      chainState: raw(
        `SELECT anchor_seq, anchor_hash, head_seq, head_hash FROM ${p}audit_chain WHERE id = 1`,
      ),
      setHead: db.prepare(`UPDATE ${p}audit_chain SET head_seq = ?, head_hash = ? WHERE id = 1`),
      setAnchor: db.prepare(
        `UPDATE ${p}audit_chain SET anchor_seq = ?, anchor_hash = ? WHERE id = 1`,
      ),
      readChain: raw(`SELECT ${COLUMNS} FROM ${p}audit WHERE seq > ? ORDER BY seq LIMIT ?`),
      oldest: raw(`SELECT seq, at, hash FROM ${p}audit ORDER BY seq LIMIT ?`),
      deleteThrough: db.prepare(`DELETE FROM ${p}audit WHERE seq <= ?`),
      listPolicies: raw(`SELECT owner, max_age_ms FROM ${p}policies ORDER BY owner`),
      getPolicy: db.prepare(`SELECT max_age_ms FROM ${p}policies WHERE owner = ?`).pluck(),
      setPolicy: db.prepare(
        `INSERT INTO ${p}policies (owner, max_age_ms) VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET max_age_ms = excluded.max_age_ms`,
      ),
      deletePolicy: db.prepare(`DELETE FROM ${p}policies WHERE owner = ?`),
      // Keys of owners without a maximum of their own against the global one, then each owner's
      // keys against its own; both walk the age indexes from the oldest key.
      pastPolicy: db
        .prepare(
          `SELECT
             (SELECT count(*) FROM ${p}keys k
              WHERE coalesce(k.rotated_at, k.created_at) <= @now - (SELECT max_age_ms FROM ${p}policies WHERE owner = '')
                AND k.state = 'active' AND (k.expires_at IS NULL OR k.expires_at > @now)
                AND (k.owner_id IS NULL OR k.owner_id NOT IN (SELECT owner FROM ${p}policies WHERE owner <> '')))
           + (SELECT count(*) FROM ${p}policies po JOIN ${p}keys k
                ON k.owner_id = po.owner AND coalesce(k.rotated_at, k.created_at) <= @now - po.max_age_ms
              WHERE po.owner <> '' AND k.state = 'active' AND (k.expires_at IS NULL OR k.expires_at > @now))`,
        )
        .pluck(),
      expiringWithin: db
        .prepare(
          `SELECT count(*) FROM ${p}keys WHERE expires_at > ? AND expires_at <= ? AND state = 'active'`,
        )
        .pluck(),
      list: new Map<string, Stmt>(),
    }
  }
  const st = () => {
    prepared ??= prepare()
    return prepared
  }

  /** Appends events after the chain's head; call inside an IMMEDIATE transaction. */
  function appendIn(events: readonly AuditEvent[]): void {
    if (events.length === 0) return
    const s = st()
    const state = s.chainState.get() as Row
    const head: AuditChainPoint = { seq: state[2] as number, hash: state[3] as string }
    const stored = chainEvents(head, events)
    for (const e of stored) {
      try {
        s.insert.run(
          e.id,
          e.at,
          e.action,
          e.keyId,
          e.actor,
          encodeDetails(e.details),
          e.ip,
          e.count,
          e.seq,
          e.prevHash,
          e.hash,
        )
      } catch (err) {
        throw fail(err, `an audit event with id ${e.id} already exists`)
      }
    }
    const last = stored[stored.length - 1]!
    s.setHead.run(last.seq, last.hash)
  }

  function listStmt(q: AuditQuery): Stmt {
    const cacheKey = FILTERS.map((f) => (q[f] === undefined ? 0 : 1)).join('')
    const cache = st().list
    let stmt = cache.get(cacheKey)
    if (stmt === undefined) {
      const where: string[] = []
      if (q.keyId !== undefined) where.push('key_id = @keyId')
      if (q.actor !== undefined) where.push('actor = @actor')
      if (q.action !== undefined) where.push('action = @action')
      if (q.since !== undefined) where.push('at >= @since')
      if (q.until !== undefined) where.push('at < @until')
      if (q.before !== undefined) where.push('(at, seq) < (@beforeAt, @beforeSeq)')
      stmt = db
        .prepare(
          `SELECT ${COLUMNS} FROM ${p}audit ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY at DESC, seq DESC LIMIT @limit`,
        )
        .raw(true)
      cache.set(cacheKey, stmt)
    }
    return stmt
  }

  const appendTx = db.transaction((events: readonly AuditEvent[]) => appendIn(events))
  const pruneTx = db.transaction((before: number, limit: number): number => {
    const s = st()
    let last: Row | undefined
    for (const r of s.oldest.all(limit) as Row[]) {
      if ((r[1] as number) >= before) break
      last = r
    }
    if (last === undefined) return 0
    const anchorSeq = (s.chainState.get() as Row)[0] as number
    const deleted = s.deleteThrough.run(last[0]).changes
    // events from before the chain (no hash) leave the anchor where it is
    if ((last[0] as number) > anchorSeq) s.setAnchor.run(last[0], last[2])
    return deleted
  })
  const setPolicyTx = db.transaction(
    (ownerId: string | null, maxAgeMs: number | null, auditOf: AuditOf<number | null>) => {
      const s = st()
      const owner = ownerId ?? GLOBAL_POLICY
      const events = auditOf((s.getPolicy.get(owner) as number | undefined) ?? null)
      if (maxAgeMs === null) s.deletePolicy.run(owner)
      else s.setPolicy.run(owner, maxAgeMs)
      appendIn(events)
    },
  )

  return {
    reset(): void {
      prepared = null
    },
    appendIn,
    append(events: readonly AuditEvent[]): void {
      appendTx.immediate(events)
    },
    list(q: AuditQuery): StoredAuditEvent[] {
      const params: Record<string, unknown> = { limit: q.limit }
      if (q.keyId !== undefined) params.keyId = q.keyId
      if (q.actor !== undefined) params.actor = q.actor
      if (q.action !== undefined) params.action = q.action
      if (q.since !== undefined) params.since = q.since
      if (q.until !== undefined) params.until = q.until
      if (q.before !== undefined) {
        params.beforeAt = q.before.at
        params.beforeSeq = q.before.seq
      }
      return (listStmt(q).all(params) as Row[]).map(fromRow)
    },
    readChain(afterSeq: number, limit: number): StoredAuditEvent[] {
      return (st().readChain.all(afterSeq, limit) as Row[]).map(fromRow)
    },
    chainState(): AuditChainState {
      const r = st().chainState.get() as Row | undefined
      if (r === undefined) return { anchor: { ...EMPTY_CHAIN }, head: { ...EMPTY_CHAIN } }
      return {
        anchor: { seq: r[0] as number, hash: r[1] as string },
        head: { seq: r[2] as number, hash: r[3] as string },
      }
    },
    prune(before: number, limit: number): number {
      return pruneTx.immediate(before, limit)
    },
    getPolicy(): ExpiryPolicy {
      const policy: { maxAgeMs: number | null; owners: Record<string, number> } = {
        maxAgeMs: null,
        owners: {},
      }
      for (const r of st().listPolicies.all() as Row[]) {
        if (r[0] === GLOBAL_POLICY) policy.maxAgeMs = r[1] as number
        else policy.owners[r[0] as string] = r[1] as number
      }
      return policy
    },
    setPolicy(ownerId: string | null, maxAgeMs: number | null, auditOf: AuditOf<number | null>) {
      setPolicyTx.immediate(ownerId, maxAgeMs, auditOf)
    },
    expiryCounts(now: number, withinMs: readonly number[]): ExpiryCounts {
      const s = st()
      return {
        pastPolicy: s.pastPolicy.get({ now }) as number,
        expiring: withinMs.map((w) => s.expiringWithin.get(now, now + w) as number),
      }
    },
  }
}
