import Database from 'better-sqlite3'
import { KeywardError } from '../../core/errors.js'
import { rotationConflict } from '../audit-query.js'
import { keyPage } from '../cursor.js'
import { KEY_SELECT } from '../key-columns.js'
import type {
  AuditEvent,
  KeyPage,
  KeyPatch,
  KeyRecord,
  ListKeysQuery,
  SecretRecord,
  SecretRotation,
  Store,
  UsageDetail,
  UsageEntry,
} from '../types.js'
import { sqliteAudit } from './audit.js'
import { toSqliteKeywardError } from './errors.js'
import {
  decodeList,
  encodeList,
  foundFromRow,
  keyFromRow,
  keyParams,
  patchFields,
  patchSet,
  patchValues,
  type Row,
  secretFromRow,
  secretParams,
} from './key-rows.js'
import { listKeysParams, listKeysStmt } from './list-keys.js'
import { migrateSqlite } from './migrate.js'
import { resolveOptions, type SqliteStoreOptions } from './options.js'
import { readSnapshot } from './read-snapshot.js'
import { hashSlot, SLOT_PROBES } from './schema.js'
import { sqliteSigningKeys } from './signing-keys.js'
import { sqliteUsage } from './sqlite-usage.js'
import { prepareStatements, type Statements } from './statements.js'

/** insertKeys batches from this size on are sorted and get a bigger page cache. */
const BULK_ROWS = 1000
const BULK_CACHE_KIB = 256 * 1024

/**
 * A store on an embedded SQLite file through better-sqlite3. Sets WAL, `busy_timeout`,
 * `synchronous=NORMAL` and foreign keys on `db` at once; every write is one `BEGIN IMMEDIATE`
 * transaction, so several processes can share the file without `SQLITE_BUSY` surfacing
 * (up to `busyTimeoutMs` of waiting). `close()` also closes `db` unless `closeDatabase: false`.
 *
 * @example
 * import Database from 'better-sqlite3'
 * const store = createSqliteStore({ db: new Database('keyward.db') })
 * await store.migrate()
 * @throws KeywardError `invalid_options` for bad options; `store_corrupt` when the file is not a
 * SQLite database; `store_unavailable` when it cannot be opened or is locked
 */
export function createSqliteStore(options: SqliteStoreOptions): Store {
  const {
    db,
    tablePrefix: p,
    busyTimeoutMs,
    mmapSizeBytes,
    closeDatabase,
  } = resolveOptions(options)
  const file = db.name
  const fail = (e: unknown, conflict?: string): KeywardError =>
    toSqliteKeywardError(e, file, conflict)

  try {
    // busy_timeout first, so that switching to WAL also waits for another process's lock.
    db.pragma(`busy_timeout = ${busyTimeoutMs}`)
    if (!db.readonly) {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
    }
    db.pragma('foreign_keys = ON')
    db.pragma(`mmap_size = ${mmapSizeBytes}`)
    // reads the file header, so a file that is not a database fails here, not on first use
    db.pragma('schema_version')
  } catch (e) {
    throw fail(e)
  }

  let closed = false
  let prepared: Statements | null = null

  // Statements need the tables, so they are prepared on first use after migrate(), once.
  const st = () => {
    prepared ??= prepareStatements(db, p)
    return prepared
  }

  const snapshot = readSnapshot(db)

  /** Runs `fn` on an open store, mapping every driver error to a KeywardError. */
  function guard<T>(fn: () => T, shared = false): T {
    if (closed) throw new KeywardError('store_unavailable', 'the SQLite store is closed')
    try {
      if (shared) snapshot.enter()
      else snapshot.end()
      return fn()
    } catch (e) {
      try {
        snapshot.end()
      } catch {
        // already failing: report the first error
      }
      if (e instanceof SyntaxError)
        throw new KeywardError(
          'store_corrupt',
          `${file} holds malformed JSON in a keyward table: restore it from a backup`,
          { cause: e },
        )
      throw fail(e)
    }
  }

  function insertOne(key: KeyRecord, secret: SecretRecord): void {
    const s = st()
    try {
      s.insertKey.run(keyParams(key))
    } catch (e) {
      throw fail(e, `a key with id ${key.id} already exists`)
    }
    try {
      s.insertSecret.run(secretParams(secret))
    } catch (e) {
      throw fail(e, 'this secret is already stored')
    }
  }

  const audit = sqliteAudit(db, p, fail)
  const appendIn = audit.appendIn

  const insertKeyTx = db.transaction(
    (key: KeyRecord, secret: SecretRecord, events: readonly AuditEvent[]) => {
      insertOne(key, secret)
      appendIn(events)
    },
  )
  const insertKeysTx = db.transaction(
    (rows: readonly { key: KeyRecord; secret: SecretRecord }[]) => {
      if (rows.length < BULK_ROWS) {
        for (const { key, secret } of rows) insertOne(key, secret)
        return
      }
      // Ids and hashes are random. Keys go in creation order and secrets in hash order, so
      // that most b-trees grow at one end instead of splitting pages all over: a million-row
      // import runs several times faster.
      const s = st()
      const ordered = [...rows].sort(
        (a, b) =>
          a.key.createdAt - b.key.createdAt ||
          (a.key.id < b.key.id ? -1 : a.key.id > b.key.id ? 1 : 0),
      )
      for (const { key } of ordered) {
        try {
          s.insertKey.run(keyParams(key))
        } catch (e) {
          throw fail(e, `a key with id ${key.id} already exists`)
        }
      }
      const byHash = ordered.sort((a, b) =>
        a.secret.hash < b.secret.hash ? -1 : a.secret.hash > b.secret.hash ? 1 : 0,
      )
      for (const { secret } of byHash) {
        try {
          s.insertSecret.run(secretParams(secret))
        } catch (e) {
          throw fail(e, 'this secret is already stored')
        }
      }
    },
  )
  const rotateTx = db.transaction((r: SecretRotation): KeyRecord | null => {
    const s = st()
    const row = s.getKey.get(r.secret.keyId) as Row | undefined
    if (row === undefined) return null
    const before = keyFromRow(row)
    if (before.hint !== r.expectHint || before.state === 'revoked')
      throw rotationConflict(before.id, before.state === 'revoked')
    const events = r.audit(before)
    s.expireOthers.run(r.previousExpireAt, r.secret.keyId, r.previousExpireAt)
    try {
      s.insertSecret.run(secretParams(r.secret))
    } catch (e) {
      throw fail(e, 'this secret is already stored')
    }
    const after = keyFromRow(s.rotateKey.get(r.secret.hint, r.now, r.now, before.id) as Row)
    appendIn(events)
    return after
  })
  const endGraceTx = db.transaction(
    (keyId: string, now: number, auditOf: (ended: number) => readonly AuditEvent[]) => {
      const s = st()
      if (s.keyExists.get(keyId) === undefined) return null
      const ended = s.endGrace.run(now, keyId, now).changes
      if (ended > 0) appendIn(auditOf(ended))
      return ended
    },
  )
  const setRoleTx = db.transaction(
    (
      name: string,
      scopes: readonly string[],
      auditOf: ((before: readonly string[] | null) => readonly AuditEvent[]) | undefined,
    ) => {
      const s = st()
      const before = s.getRole.get(name) as string | undefined
      const events = auditOf?.(before === undefined ? null : decodeList(before)) ?? []
      s.setRole.run(name, encodeList(scopes))
      appendIn(events)
    },
  )
  const deleteRoleTx = db.transaction(
    (name: string, auditOf: ((before: readonly string[]) => readonly AuditEvent[]) | undefined) => {
      const s = st()
      const before = s.getRole.get(name) as string | undefined
      if (before === undefined) return false
      const events = auditOf?.(decodeList(before)) ?? []
      s.deleteRole.run(name)
      appendIn(events)
      return true
    },
  )
  const updateKeyTx = db.transaction(
    (
      id: string,
      patch: KeyPatch,
      auditOf: ((before: KeyRecord, after: KeyRecord) => readonly AuditEvent[]) | undefined,
    ): KeyRecord | null => {
      const before = auditOf === undefined ? undefined : (st().getKey.get(id) as Row | undefined)
      const fields = patchFields(patch)
      const cacheKey = fields.join(',')
      const cache = st().updateKey
      let stmt = cache.get(cacheKey)
      if (stmt === undefined) {
        stmt = db
          .prepare(`UPDATE ${p}keys SET ${patchSet(fields)} WHERE id = ? RETURNING ${KEY_SELECT}`)
          .raw(true)
        cache.set(cacheKey, stmt)
      }
      const row = stmt.get(...patchValues(patch, fields), id) as Row | undefined
      if (row === undefined) return null
      const after = keyFromRow(row)
      if (auditOf !== undefined && before !== undefined)
        appendIn(auditOf(keyFromRow(before), after))
      return after
    },
  )
  const usage = sqliteUsage(db, p)
  const recordUsageTx = db.transaction(
    (entries: readonly UsageEntry[], detail: UsageDetail | undefined) => {
      const stmt = st().recordUsage
      for (const e of entries) stmt.run(e.count, e.lastUsedAt, e.keyId)
      if (detail !== undefined) usage.record(detail.cells, detail.secrets)
    },
  )
  const rollUpTx = db.transaction(usage.rollUp)
  const pruneTx = db.transaction(usage.prune)
  const signingKeys = sqliteSigningKeys(db, p)
  const kidConflict = (kid: string) => `a signing key with kid ${kid} already exists`
  const setMetaTx = db.transaction((name: string, value: string): string => {
    const s = st()
    s.insertMeta.run(name, value)
    return s.getMeta.get(name) as string
  })

  return {
    kind: 'sqlite',
    async migrate() {
      guard(() => {
        migrateSqlite(db, p, file)
        prepared = null
        audit.reset()
      })
    },
    async insertKey(key, secret, events = []) {
      guard(() => insertKeyTx.immediate(key, secret, events))
    },
    async insertKeys(rows) {
      if (rows.length === 0) return guard(() => undefined)
      guard(() => {
        if (rows.length < BULK_ROWS) return insertKeysTx.immediate(rows)
        // A big transaction that outgrows the page cache spills to the WAL page by page:
        // give it room (allocated only as used), then give it back.
        const before = db.pragma('cache_size', { simple: true }) as number
        db.pragma(`cache_size = ${-BULK_CACHE_KIB}`)
        try {
          insertKeysTx.immediate(rows)
        } finally {
          db.pragma(`cache_size = ${before}`)
        }
      })
    },
    async findByHash(hash) {
      return guard(() => {
        const slot = hashSlot(hash)
        const find = st().findByHash
        let r = find.get(slot, slot + SLOT_PROBES, hash) as Row | undefined
        // A snapshot an earlier lookup began may predate this call (requests that arrive within
        // one event-loop turn share it): a key another process created since would be refused,
        // and negatively cached. A miss is asked again outside it.
        if (r === undefined && snapshot.sharedWithEarlier()) {
          snapshot.end()
          r = find.get(slot, slot + SLOT_PROBES, hash) as Row | undefined
        }
        return r === undefined ? null : foundFromRow(r)
      }, true)
    },
    async getKey(id) {
      return guard(() => {
        const r = st().getKey.get(id) as Row | undefined
        return r === undefined ? null : keyFromRow(r)
      })
    },
    async listKeys(query: ListKeysQuery): Promise<KeyPage> {
      return guard(() => {
        const params = listKeysParams(query)
        const rows = listKeysStmt(db, p, st().listKeys, query).all(params) as Row[]
        return keyPage(rows, query.limit, keyFromRow)
      })
    },
    async updateKey(id, patch, auditOf) {
      return guard(() => updateKeyTx.immediate(id, patch, auditOf))
    },
    async listSecrets(keyId) {
      return guard(() => (st().listSecrets.all(keyId) as Row[]).map((r) => secretFromRow(r)))
    },
    async rotateSecret(rotation) {
      return guard(() => rotateTx.immediate(rotation))
    },
    async endGracePeriods(keyId, now, auditOf) {
      return guard(() => endGraceTx.immediate(keyId, now, auditOf))
    },
    async recordUsage(entries, detail) {
      const empty =
        entries.length === 0 &&
        (detail === undefined || (detail.cells.length === 0 && detail.secrets.length === 0))
      if (empty) return guard(() => undefined)
      guard(() => recordUsageTx.immediate(entries, detail))
    },
    async summarizeUsage(query) {
      return guard(() => usage.summarize(query))
    },
    async rollUpUsage(before, limit) {
      return guard(() => rollUpTx.immediate(before, limit))
    },
    async pruneUsage(before, limit) {
      return guard(() => pruneTx.immediate(before, limit))
    },
    async appendAudit(events) {
      if (events.length === 0) return guard(() => undefined)
      guard(() => audit.append(events))
    },
    async listAudit(query) {
      return guard(() => audit.list(query))
    },
    async readAuditChain(afterSeq, limit) {
      return guard(() => audit.readChain(afterSeq, limit))
    },
    async auditChainState() {
      return guard(() => audit.chainState())
    },
    async pruneAudit(before, limit) {
      return guard(() => audit.prune(before, limit))
    },
    async listRoles() {
      return guard(
        () =>
          new Map(
            (st().listRoles.all() as Row[]).map((r) => [
              r[0] as string,
              decodeList(r[1] as string) as string[],
            ]),
          ),
      )
    },
    async setRole(name, scopes, auditOf) {
      guard(() => setRoleTx.immediate(name, scopes, auditOf))
    },
    async deleteRole(name, auditOf) {
      return guard(() => deleteRoleTx.immediate(name, auditOf) as boolean)
    },
    async getExpiryPolicy() {
      return guard(() => audit.getPolicy())
    },
    async setExpiryPolicy(ownerId, maxAgeMs, auditOf) {
      guard(() => audit.setPolicy(ownerId, maxAgeMs, auditOf))
    },
    async expiryCounts(now, withinMs) {
      return guard(() => audit.expiryCounts(now, withinMs))
    },
    async getMeta(name) {
      return guard(() => (st().getMeta.get(name) as string | undefined) ?? null)
    },
    async setMetaIfAbsent(name, value) {
      return guard(() => setMetaTx.immediate(name, value))
    },
    async pepperVersions() {
      return guard(() => st().pepperVersions.all() as number[])
    },
    async listSigningKeys() {
      return guard(() => signingKeys.list())
    },
    async insertFirstSigningKey(key) {
      return guard(() => {
        try {
          return signingKeys.insertFirst(key)
        } catch (e) {
          throw fail(e, kidConflict(key.kid))
        }
      })
    },
    async rotateSigningKey(key, deleteRetiredBefore) {
      guard(() => {
        try {
          signingKeys.rotate(key, deleteRetiredBefore)
        } catch (e) {
          throw fail(e, kidConflict(key.kid))
        }
      })
    },
    async close() {
      if (closed) return
      try {
        snapshot.end()
      } catch {
        // closing anyway
      }
      closed = true
      prepared = null
      if (closeDatabase && db.open) db.close()
    },
  }
}

/**
 * Opens (creating when missing) a SQLite file and returns a store on it, turning open errors
 * (missing directory, permissions, not a database) into one-line `KeywardError`s.
 *
 * @example
 * const store = openSqliteStore('./keyward.db')
 * await store.migrate()
 * @throws KeywardError `store_unavailable`, `store_corrupt`
 */
export function openSqliteStore(
  filename: string,
  options: Omit<SqliteStoreOptions, 'db'> & { readonly?: boolean } = {},
): Store {
  const { readonly, ...rest } = options
  let db: Database.Database
  try {
    db = new Database(filename, { readonly: readonly ?? false, fileMustExist: readonly ?? false })
  } catch (e) {
    throw toSqliteKeywardError(e, filename)
  }
  try {
    return createSqliteStore({ ...rest, db })
  } catch (e) {
    db.close()
    throw e
  }
}
