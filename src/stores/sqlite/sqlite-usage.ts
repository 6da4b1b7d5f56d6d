import type Database from 'better-sqlite3'
import {
  type SecretUse,
  USAGE_HOUR_MS,
  USAGE_MINUTE_MS,
  type UsageCell,
  type UsageSummary,
  type UsageSummaryQuery,
} from '../../core/types.js'

type Row = unknown[]

// Counts add up; the row's first IP stays once it has one; the last IP is the newest given.
const UPSERT = (p: string) =>
  `INSERT INTO ${p}usage (key_id, bucket, span_ms, code, tag, count, first_ip, last_ip)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (key_id, bucket, span_ms, code, tag) DO UPDATE SET
     count = count + excluded.count,
     first_ip = coalesce(first_ip, excluded.first_ip),
     last_ip = coalesce(excluded.last_ip, last_ip)`

/**
 * The usage methods of the SQLite store, synchronous: the store runs them inside its guard
 * and a `BEGIN IMMEDIATE` transaction. Statements are prepared on first use (after migrate).
 */
export function sqliteUsage(db: Database.Database, p: string) {
  let upsert: Database.Statement | null = null
  let touchSecret: Database.Statement | null = null
  const upsertStmt = () => (upsert ??= db.prepare(UPSERT(p)))

  /** Writes a flush's cells and secrets' last use; the caller holds the transaction. */
  function record(cells: readonly UsageCell[], secrets: readonly SecretUse[]): void {
    const up = upsertStmt()
    for (const c of cells)
      up.run(
        c.keyId,
        c.at - (c.at % USAGE_MINUTE_MS),
        USAGE_MINUTE_MS,
        c.code,
        c.tag,
        c.count,
        c.firstIp,
        c.lastIp,
      )
    if (secrets.length === 0) return
    // found by key and hint through the secrets_key index: the hash never leaves the store
    touchSecret ??= db.prepare(
      `UPDATE ${p}secrets SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE key_id = ? AND hint = ?`,
    )
    for (const s of secrets) touchSecret.run(s.lastUsedAt, s.keyId, s.hint)
  }

  function summarize(q: UsageSummaryQuery): UsageSummary {
    const where = `span_ms IN (${USAGE_MINUTE_MS}, ${USAGE_HOUR_MS}) AND bucket >= @since AND bucket < @until${q.keyId === undefined ? '' : ' AND key_id = @keyId'}`
    const params: Record<string, unknown> = { since: q.since, until: q.until, step: q.stepMs }
    if (q.keyId !== undefined) params.keyId = q.keyId
    const all = (sql: string, extra: Record<string, unknown> = {}) =>
      db
        .prepare(sql)
        .raw(true)
        .all({ ...params, ...extra }) as Row[]
    const series = all(
      `SELECT bucket - bucket % @step AS at, code, sum(count) FROM ${p}usage WHERE ${where}
       GROUP BY 1, 2 ORDER BY 1, 2`,
    ).map((r) => ({ at: r[0] as number, code: r[1] as string, count: r[2] as number }))
    const keys = all(
      `SELECT key_id, sum(count), sum(CASE WHEN code <> 'valid' THEN count ELSE 0 END)
       FROM ${p}usage WHERE ${where} GROUP BY key_id ORDER BY key_id`,
    ).map((r) => ({ keyId: r[0] as string, total: r[1] as number, denied: r[2] as number }))
    const tags = all(
      `SELECT tag, sum(count) AS total FROM ${p}usage WHERE ${where}
       GROUP BY tag ORDER BY total DESC, tag LIMIT @tagLimit`,
      { tagLimit: q.tagLimit },
    ).map((r) => ({ tag: r[0] as string, total: r[1] as number }))
    const ip = (column: string, order: string) =>
      (db
        .prepare(
          `SELECT ${column} FROM ${p}usage WHERE ${where} AND ${column} IS NOT NULL ORDER BY bucket ${order} LIMIT 1`,
        )
        .pluck()
        .get(params) as string | undefined) ?? null
    return {
      series,
      keys,
      tags,
      firstIp: ip('first_ip', 'ASC'),
      lastIp: ip('last_ip', 'DESC'),
    }
  }

  /** Folds up to `limit` minute rows before `before` into hour rows; the caller holds the transaction. */
  function rollUp(before: number, limit: number): number {
    const due = db
      .prepare(
        `SELECT rowid, key_id, bucket, code, tag, count, first_ip, last_ip FROM ${p}usage
         WHERE span_ms = ${USAGE_MINUTE_MS} AND bucket < ? ORDER BY bucket LIMIT ?`,
      )
      .raw(true)
      .all(before, limit) as Row[]
    if (due.length === 0) return 0
    const up = upsertStmt()
    const del = db.prepare(`DELETE FROM ${p}usage WHERE rowid = ?`)
    // oldest first: an hour keeps the first IP of its earliest minute, the last of its latest
    for (const r of due) {
      del.run(r[0])
      const bucket = r[2] as number
      up.run(r[1], bucket - (bucket % USAGE_HOUR_MS), USAGE_HOUR_MS, r[3], r[4], r[5], r[6], r[7])
    }
    return due.length
  }

  function prune(before: number, limit: number): number {
    return db
      .prepare(
        `DELETE FROM ${p}usage WHERE rowid IN (
           SELECT rowid FROM ${p}usage WHERE span_ms IN (${USAGE_MINUTE_MS}, ${USAGE_HOUR_MS}) AND bucket < ? LIMIT ?)`,
      )
      .run(before, limit).changes
  }

  return { record, summarize, rollUp, prune }
}
