import type Database from 'better-sqlite3'
import { KEY_COLUMNS, KEY_SELECT, SECRET_COLUMNS } from '../key-columns.js'
import { FOUND_COLUMNS } from './key-rows.js'

export type Stmt = Database.Statement<unknown[], unknown>

const KEY_WIDTH = 18

/** The store's statements: fixed ones, and those built per query shape, kept by shape. */
export interface Statements {
  insertKey: Stmt
  insertSecret: Stmt
  findByHash: Stmt
  getKey: Stmt
  keyExists: Stmt
  listSecrets: Stmt
  expireOthers: Stmt
  recordUsage: Stmt
  rotateKey: Stmt
  endGrace: Stmt
  getRole: Stmt
  listRoles: Stmt
  setRole: Stmt
  deleteRole: Stmt
  getMeta: Stmt
  insertMeta: Stmt
  pepperVersions: Stmt
  listKeys: Map<string, Stmt>
  updateKey: Map<string, Stmt>
}

/** The store's statements on the tables prefixed `p`. */
export function prepareStatements(db: Database.Database, p: string): Statements {
  const raw = (sql: string): Stmt => db.prepare(sql).raw(true)
  const keyPlaceholders = Array.from({ length: KEY_WIDTH }, () => '?').join(', ')
  return {
    insertKey: db.prepare(`INSERT INTO ${p}keys (${KEY_COLUMNS}) VALUES (${keyPlaceholders})`),
    insertSecret: db.prepare(
      `INSERT INTO ${p}secrets (${SECRET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    // the hash's slot, or one of the next ones after a collision (see schema.ts)
    findByHash: raw(
      `SELECT ${FOUND_COLUMNS} FROM ${p}lookup WHERE slot >= ? AND slot < ? AND hash = ? LIMIT 1`,
    ),
    getKey: raw(`SELECT ${KEY_SELECT} FROM ${p}keys WHERE id = ?`),
    keyExists: db.prepare(`SELECT 1 FROM ${p}keys WHERE id = ?`).pluck(),
    listSecrets: raw(
      `SELECT ${SECRET_COLUMNS}, last_used_at FROM ${p}secrets WHERE key_id = ? ORDER BY created_at DESC`,
    ),
    expireOthers: db.prepare(
      `UPDATE ${p}secrets SET expires_at = ? WHERE key_id = ? AND (expires_at IS NULL OR expires_at > ?)`,
    ),
    recordUsage: db.prepare(
      `UPDATE ${p}keys SET usage_count = usage_count + ?, last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?`,
    ),
    rotateKey: raw(
      `UPDATE ${p}keys SET hint = ?, updated_at = ?, rotated_at = ? WHERE id = ? RETURNING ${KEY_SELECT}`,
    ),
    endGrace: db.prepare(
      `UPDATE ${p}secrets SET expires_at = ? WHERE key_id = ? AND expires_at IS NOT NULL AND expires_at > ?`,
    ),
    getRole: db.prepare(`SELECT scopes FROM ${p}roles WHERE name = ?`).pluck(),
    listRoles: raw(`SELECT name, scopes FROM ${p}roles ORDER BY name`),
    setRole: db.prepare(
      `INSERT INTO ${p}roles (name, scopes) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET scopes = excluded.scopes`,
    ),
    deleteRole: db.prepare(`DELETE FROM ${p}roles WHERE name = ?`),
    getMeta: db.prepare(`SELECT value FROM ${p}meta WHERE name = ?`).pluck(),
    insertMeta: db.prepare(
      `INSERT INTO ${p}meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`,
    ),
    // A loose index scan: one index descent per distinct version, not a scan of every secret.
    pepperVersions: db
      .prepare(
        `WITH RECURSIVE v(x) AS (
           SELECT min(pepper_version) FROM ${p}secrets
           UNION ALL
           SELECT (SELECT min(pepper_version) FROM ${p}secrets WHERE pepper_version > x) FROM v WHERE x IS NOT NULL
         ) SELECT x FROM v WHERE x IS NOT NULL`,
      )
      .pluck(),
    listKeys: new Map<string, Stmt>(),
    updateKey: new Map<string, Stmt>(),
  }
}
