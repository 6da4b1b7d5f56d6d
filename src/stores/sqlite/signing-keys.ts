import type Database from 'better-sqlite3'
import {
  SIGNING_KEY_COLUMNS as COLUMNS,
  signingKeyParams as params,
} from '../signing-key-columns.js'
import type { SigningKeyRecord } from '../types.js'

type Row = unknown[]

const NEWEST_FIRST = 'ORDER BY created_at DESC, kid DESC'

function fromRow(r: Row): SigningKeyRecord {
  return {
    kid: r[0] as string,
    alg: r[1] as string,
    publicJwk: r[2] as string,
    encryptedPrivateKey: r[3] as string,
    createdAt: r[4] as number,
    activatesAt: r[5] as number,
    retiredAt: r[6] as number | null,
  }
}

/**
 * The signing-key methods of the SQLite store, synchronous: the store runs them inside its
 * guard. Cold calls (a reload every few seconds, a rotation now and then), so statements are
 * prepared per call rather than kept.
 */
export function sqliteSigningKeys(db: Database.Database, p: string) {
  const list = (): SigningKeyRecord[] =>
    (
      db.prepare(`SELECT ${COLUMNS} FROM ${p}signing_keys ${NEWEST_FIRST}`).raw(true).all() as Row[]
    ).map(fromRow)
  const insert = (key: SigningKeyRecord): void => {
    db.prepare(`INSERT INTO ${p}signing_keys (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(
      params(key),
    )
  }
  // BEGIN IMMEDIATE: a second process waits for the first one's commit, then sees its key.
  const insertFirst = db.transaction((key: SigningKeyRecord): SigningKeyRecord => {
    const current = db
      .prepare(`SELECT ${COLUMNS} FROM ${p}signing_keys WHERE retired_at IS NULL ${NEWEST_FIRST}`)
      .raw(true)
      .get() as Row | undefined
    if (current !== undefined) return fromRow(current)
    insert(key)
    return { ...key }
  })
  const rotate = db.transaction((key: SigningKeyRecord, deleteRetiredBefore: number): void => {
    db.prepare(`DELETE FROM ${p}signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?`).run(
      deleteRetiredBefore,
    )
    db.prepare(
      `UPDATE ${p}signing_keys SET retired_at = ? WHERE retired_at IS NULL OR retired_at > ?`,
    ).run(key.activatesAt, key.activatesAt)
    insert(key)
  })
  return {
    list,
    insertFirst: (key: SigningKeyRecord) => insertFirst.immediate(key),
    rotate: (key: SigningKeyRecord, deleteRetiredBefore: number) =>
      rotate.immediate(key, deleteRetiredBefore),
  }
}
