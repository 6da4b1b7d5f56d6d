import type { Pool, PoolClient, QueryResultRow } from 'pg'
import {
  type SecretUse,
  USAGE_HOUR_MS,
  USAGE_MINUTE_MS,
  type UsageCell,
  type UsageSummary,
  type UsageSummaryQuery,
} from '../../core/types.js'

type Queryable = Pick<Pool | PoolClient, 'query'>

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v))

// Counts add up; the row's first IP stays once it has one; the last IP is the newest given.
const ON_CONFLICT = (s: string) => `ON CONFLICT (key_id, bucket, span_ms, code, tag) DO UPDATE SET
  count = ${s}.usage.count + excluded.count,
  first_ip = coalesce(${s}.usage.first_ip, excluded.first_ip),
  last_ip = coalesce(excluded.last_ip, ${s}.usage.last_ip)`

/** The usage statements of the PostgreSQL store; `s` is the quoted, validated schema. */
export function postgresUsage(s: string) {
  /** Writes a flush's cells and secrets' last use on `c` (inside the caller's transaction). */
  async function record(
    c: Queryable,
    cells: readonly UsageCell[],
    secrets: readonly SecretUse[],
  ): Promise<void> {
    if (cells.length > 0)
      // One statement; a batch may hold the same cell twice (counts put back after a failed
      // write), so rows are merged before the upsert, which may touch a row only once. Sorted,
      // so that two nodes writing the same rows lock them in the same order.
      await c.query(
        `INSERT INTO ${s}.usage (key_id, bucket, span_ms, code, tag, count, first_ip, last_ip)
         SELECT key_id, bucket, ${USAGE_MINUTE_MS}, code, tag, sum(count),
           (array_agg(first_ip ORDER BY ord) FILTER (WHERE first_ip IS NOT NULL))[1],
           (array_agg(last_ip ORDER BY ord DESC) FILTER (WHERE last_ip IS NOT NULL))[1]
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])
           WITH ORDINALITY AS t(key_id, bucket, code, tag, count, first_ip, last_ip, ord)
         GROUP BY key_id, bucket, code, tag
         ORDER BY key_id, bucket, code, tag
         ${ON_CONFLICT(s)}`,
        [
          cells.map((x) => x.keyId),
          cells.map((x) => x.at - (x.at % USAGE_MINUTE_MS)),
          cells.map((x) => x.code),
          cells.map((x) => x.tag),
          cells.map((x) => x.count),
          cells.map((x) => x.firstIp),
          cells.map((x) => x.lastIp),
        ],
      )
    if (secrets.length > 0)
      // found by key and hint (secrets_key index): the hash never leaves the store
      await c.query(
        `UPDATE ${s}.secrets x SET last_used_at = GREATEST(x.last_used_at, u.at)
         FROM (SELECT key_id, hint, max(at) AS at
               FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(key_id, hint, at)
               GROUP BY key_id, hint) u
         WHERE x.key_id = u.key_id AND x.hint = u.hint`,
        [secrets.map((x) => x.keyId), secrets.map((x) => x.hint), secrets.map((x) => x.lastUsedAt)],
      )
  }

  async function summarize(pool: Queryable, q: UsageSummaryQuery): Promise<UsageSummary> {
    const params: unknown[] = [q.since, q.until]
    let where = `span_ms IN (${USAGE_MINUTE_MS}, ${USAGE_HOUR_MS}) AND bucket >= $1 AND bucket < $2`
    if (q.keyId !== undefined) {
      params.push(q.keyId)
      where += ` AND key_id = $${params.length}`
    }
    const n = params.length
    const rows = async (sql: string, extra: unknown[] = []): Promise<QueryResultRow[]> =>
      (await pool.query(sql, [...params, ...extra])).rows
    const [series, keys, tags, first, last] = await Promise.all([
      rows(
        `SELECT bucket - bucket % $${n + 1}::bigint AS at, code, sum(count) AS count
         FROM ${s}.usage WHERE ${where} GROUP BY 1, 2 ORDER BY 1, code COLLATE "C"`,
        [q.stepMs],
      ),
      rows(
        `SELECT key_id, sum(count) AS total, sum(CASE WHEN code <> 'valid' THEN count ELSE 0 END) AS denied
         FROM ${s}.usage WHERE ${where} GROUP BY key_id ORDER BY key_id COLLATE "C"`,
      ),
      rows(
        `SELECT tag, sum(count) AS total FROM ${s}.usage WHERE ${where}
         GROUP BY tag ORDER BY total DESC, tag COLLATE "C" LIMIT $${n + 1}`,
        [q.tagLimit],
      ),
      rows(
        `SELECT first_ip AS ip FROM ${s}.usage WHERE ${where} AND first_ip IS NOT NULL ORDER BY bucket LIMIT 1`,
      ),
      rows(
        `SELECT last_ip AS ip FROM ${s}.usage WHERE ${where} AND last_ip IS NOT NULL ORDER BY bucket DESC LIMIT 1`,
      ),
    ])
    return {
      series: series.map((r) => ({ at: num(r.at), code: r.code, count: num(r.count) })),
      keys: keys.map((r) => ({ keyId: r.key_id, total: num(r.total), denied: num(r.denied) })),
      tags: tags.map((r) => ({ tag: r.tag, total: num(r.total) })),
      firstIp: first[0]?.ip ?? null,
      lastIp: last[0]?.ip ?? null,
    }
  }

  /**
   * Folds up to `limit` minute rows before `before` into hour rows, in one statement. SKIP
   * LOCKED: nodes rolling up at the same time take different rows instead of waiting.
   */
  async function rollUp(c: Queryable, before: number, limit: number): Promise<number> {
    const { rows } = await c.query(
      `WITH due AS (
         SELECT ctid FROM ${s}.usage WHERE span_ms = ${USAGE_MINUTE_MS} AND bucket < $1
         ORDER BY bucket LIMIT $2 FOR UPDATE SKIP LOCKED
       ), moved AS (
         DELETE FROM ${s}.usage u USING due WHERE u.ctid = due.ctid
         RETURNING u.key_id, u.bucket, u.code, u.tag, u.count, u.first_ip, u.last_ip
       ), folded AS (
         INSERT INTO ${s}.usage (key_id, bucket, span_ms, code, tag, count, first_ip, last_ip)
         SELECT key_id, bucket - bucket % ${USAGE_HOUR_MS}, ${USAGE_HOUR_MS}, code, tag, sum(count),
           (array_agg(first_ip ORDER BY bucket) FILTER (WHERE first_ip IS NOT NULL))[1],
           (array_agg(last_ip ORDER BY bucket DESC) FILTER (WHERE last_ip IS NOT NULL))[1]
         FROM moved GROUP BY key_id, 2, code, tag
         ORDER BY key_id, 2, code, tag
         ${ON_CONFLICT(s)}
       )
       SELECT count(*) AS n FROM moved`,
      [before, limit],
    )
    return num(rows[0]?.n ?? 0)
  }

  async function prune(c: Queryable, before: number, limit: number): Promise<number> {
    const result = await c.query(
      `DELETE FROM ${s}.usage WHERE ctid IN (
         SELECT ctid FROM ${s}.usage WHERE span_ms IN (${USAGE_MINUTE_MS}, ${USAGE_HOUR_MS}) AND bucket < $1
         LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [before, limit],
    )
    return result.rowCount ?? 0
  }

  return { record, summarize, rollUp, prune }
}
