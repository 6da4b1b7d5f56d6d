import Database from 'better-sqlite3'
import { KeywardError } from '../../core/errors.js'
import { msOption, rejectUnknownOptions } from '../../core/options.js'
import { decodeCursor, encodeCursor } from '../cursor.js'
import { rotationConflict } from '../audit-query.js'
import type {
  AuditEvent,
  FoundKey,
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
import { hashSlot, SLOT_PROBES, SQLITE_MIGRATIONS } from './schema.js'
import { sqliteSigningKeys } from './signing-keys.js'
import { sqliteUsage } from './sqlite-usage.js'

type Db = Database.Database
type Stmt = Database.Statement<unknown[], unknown>
type Row = unknown[]

/** Options of `createSqliteStore`. */
export interface SqliteStoreOptions {
  /** A better-sqlite3 database the caller opened (a file path, or `:memory:` for tests). */
  db: Db
  /** Prefix of every table name; must match `/^[A-Za-z_][A-Za-z0-9_]*$/`. Default `keyward_`. */
  tablePrefix?: string
  /** How long a write waits for another process's lock before failing. Default 5000. */
  busyTimeoutMs?: number
  /**
   * Bytes of the file SQLite reads through memory mapping instead of read() calls; cold
   * lookups in a large file get faster. Default 1 GiB (address space, not memory); 0 turns it off.
   */
  mmapSizeBytes?: number
  /** Close `db` when the store is closed. Default true: the store owns what it was given. */
  closeDatabase?: boolean
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const OPTION_NAMES = new Set([
  'db',
  'tablePrefix',
  'busyTimeoutMs',
  'mmapSizeBytes',
  'closeDatabase',
])

const KEY_COLUMNS =
  'id, name, owner_id, prefix, hint, scopes, roles, rate_limits, quota, metadata, ip_allowlist, state, created_at, updated_at, expires_at, revoked_at, last_used_at, usage_count'
/** What reads select of a key: the inserted columns, then those later migrations added. */
const KEY_SELECT = `${KEY_COLUMNS}, rotated_at`
const SECRET_COLUMNS = 'hash, key_id, pepper_version, hint, imported, created_at, expires_at'
const KEY_WIDTH = 18
/** insertKeys batches from this size on are sorted and get a bigger page cache. */
const BULK_ROWS = 1000
const SNAPSHOT_READS = 64
const SNAPSHOT_MS = 2
const BULK_CACHE_KIB = 256 * 1024

/** Patch field -> column; the only names that reach dynamic SQL. */
const PATCH_COLUMNS: Record<keyof KeyPatch, string> = {
  name: 'name',
  ownerId: 'owner_id',
  hint: 'hint',
  scopes: 'scopes',
  roles: 'roles',
  rateLimits: 'rate_limits',
  quota: 'quota',
  metadata: 'metadata',
  ipAllowlist: 'ip_allowlist',
  state: 'state',
  expiresAt: 'expires_at',
  revokedAt: 'revoked_at',
  updatedAt: 'updated_at',
}
const JSON_FIELDS = new Set(['scopes', 'roles', 'rateLimits', 'metadata', 'ipAllowlist'])

// Most keys have empty lists and metadata: skip JSON entirely for them, on both sides.
const encodeList = (v: readonly unknown[]): string => (v.length === 0 ? '[]' : JSON.stringify(v))
function encodeObject(v: Readonly<Record<string, unknown>>): string {
  for (const _ in v) return JSON.stringify(v)
  return '{}'
}
const decodeList = (s: string): never[] => (s === '[]' ? [] : JSON.parse(s))
const decodeObject = (s: string): Record<string, unknown> => (s === '{}' ? {} : JSON.parse(s))

function keyParams(k: KeyRecord): unknown[] {
  return [
    k.id,
    k.name,
    k.ownerId,
    k.prefix,
    k.hint,
    encodeList(k.scopes),
    encodeList(k.roles),
    encodeList(k.rateLimits),
    k.quota === null ? null : JSON.stringify(k.quota),
    encodeObject(k.metadata),
    encodeList(k.ipAllowlist),
    k.state,
    k.createdAt,
    k.updatedAt,
    k.expiresAt,
    k.revokedAt,
    k.lastUsedAt,
    k.usageCount,
  ]
}

function secretParams(s: SecretRecord): unknown[] {
  return [s.hash, s.keyId, s.pepperVersion, s.hint, s.imported ? 1 : 0, s.createdAt, s.expiresAt]
}

function keyFromRow(r: Row): KeyRecord {
  const quota = r[8] as string | null
  return {
    id: r[0] as string,
    name: r[1] as string,
    ownerId: r[2] as string | null,
    prefix: r[3] as string,
    hint: r[4] as string,
    scopes: decodeList(r[5] as string),
    roles: decodeList(r[6] as string),
    rateLimits: decodeList(r[7] as string),
    quota: quota === null ? null : JSON.parse(quota),
    metadata: decodeObject(r[9] as string),
    ipAllowlist: decodeList(r[10] as string),
    state: r[11] as KeyRecord['state'],
    createdAt: r[12] as number,
    updatedAt: r[13] as number,
    expiresAt: r[14] as number | null,
    revokedAt: r[15] as number | null,
    lastUsedAt: r[16] as number | null,
    usageCount: r[17] as number,
    ...(r[18] === null || r[18] === undefined ? {} : { rotatedAt: r[18] as number }),
  }
}

/** findByHash's columns of the lookup table, in `foundFromRow`'s order. */
const FOUND_COLUMNS =
  'key_id, name, owner_id, prefix, scopes, state, expires_at, secret_expires_at, extras'

/** The lookup table's `extras` of a key without roles, limits, quota, metadata or allowlist. */
const NO_EXTRAS: Readonly<
  Pick<FoundKey['key'], 'roles' | 'rateLimits' | 'quota' | 'metadata' | 'ipAllowlist'>
> = Object.freeze({
  roles: Object.freeze([]),
  rateLimits: Object.freeze([]),
  quota: null,
  metadata: Object.freeze({}),
  ipAllowlist: Object.freeze([]),
})

function foundFromRow(r: Row): FoundKey {
  const extras = r[8] === null ? NO_EXTRAS : (JSON.parse(r[8] as string) as typeof NO_EXTRAS)
  return {
    key: {
      id: r[0] as string,
      name: r[1] as string,
      ownerId: r[2] as string | null,
      prefix: r[3] as string,
      scopes: decodeList(r[4] as string),
      roles: extras.roles,
      rateLimits: extras.rateLimits,
      quota: extras.quota,
      metadata: extras.metadata,
      ipAllowlist: extras.ipAllowlist,
      state: r[5] as KeyRecord['state'],
      expiresAt: r[6] as number | null,
    },
    secret: { expiresAt: r[7] as number | null },
  }
}

function secretFromRow(r: Row): SecretRecord {
  return {
    hash: r[0] as string,
    keyId: r[1] as string,
    pepperVersion: r[2] as number,
    hint: r[3] as string,
    imported: r[4] === 1,
    createdAt: r[5] as number,
    expiresAt: r[6] as number | null,
    lastUsedAt: (r[7] as number | null | undefined) ?? null,
  }
}

/** The `tablePrefix` option (default `keyward_`), checked: it reaches SQL text. */
export function checkTablePrefix(value: string | undefined): string {
  const tablePrefix = value ?? 'keyward_'
  if (typeof tablePrefix !== 'string' || !IDENTIFIER.test(tablePrefix))
    throw new KeywardError(
      'invalid_options',
      `"tablePrefix" must match /^[A-Za-z_][A-Za-z0-9_]*$/, got ${JSON.stringify(tablePrefix)}`,
    )
  return tablePrefix
}

function resolveOptions(options: SqliteStoreOptions): Required<SqliteStoreOptions> {
  if (options === null || typeof options !== 'object')
    throw new KeywardError('invalid_options', 'createSqliteStore needs { db }')
  rejectUnknownOptions(options, OPTION_NAMES, 'createSqliteStore')
  const { db } = options
  if (!db || typeof (db as { prepare?: unknown }).prepare !== 'function')
    throw new KeywardError(
      'invalid_options',
      '"db" must be a better-sqlite3 Database, e.g. new Database("keyward.db")',
    )
  const tablePrefix = checkTablePrefix(options.tablePrefix)
  const busyTimeoutMs = msOption(options.busyTimeoutMs, 'busyTimeoutMs', 5000, 0)
  const mmapSizeBytes = options.mmapSizeBytes ?? 1024 * 1024 * 1024
  if (!Number.isSafeInteger(mmapSizeBytes) || mmapSizeBytes < 0)
    throw new KeywardError(
      'invalid_options',
      `"mmapSizeBytes" must be a whole number >= 0, got ${mmapSizeBytes}`,
    )
  return {
    db,
    tablePrefix,
    busyTimeoutMs,
    mmapSizeBytes,
    closeDatabase: options.closeDatabase ?? true,
  }
}

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
  let prepared: ReturnType<typeof prepare> | null = null

  // Statements need the tables, so they are prepared on first use after migrate(), once.
  function prepare() {
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

  const st = () => {
    prepared ??= prepare()
    return prepared
  }

  // Lookups by hash share one read transaction for at most SNAPSHOT_READS lookups, SNAPSHOT_MS,
  // and never past the current event-loop turn: in WAL mode, starting a read transaction (lock
  // syscalls, WAL index check) costs more than the lookup itself. The snapshot is at most a few
  // ms old, far below the verification cache's TTL, and every other operation ends it first so
  // writes never start from a stale snapshot.
  let snapshot = false
  let snapshotReads = 0
  let snapshotEndsAt = 0
  let endScheduled = false
  let beginRead: Stmt | null = null
  let endRead: Stmt | null = null
  function endSnapshot(): void {
    if (!snapshot) return
    snapshot = false
    if (!db.open || !db.inTransaction) return
    try {
      endRead!.run()
    } catch (error) {
      // a read transaction left open would pin a stale snapshot for every later lookup
      if (db.inTransaction) db.exec('ROLLBACK')
      throw error
    }
  }
  function scheduledEnd(): void {
    endScheduled = false
    try {
      endSnapshot()
    } catch {
      // the next operation meets the same error and reports it
    }
  }
  function enterSnapshot(): void {
    if (snapshot && (++snapshotReads > SNAPSHOT_READS || performance.now() > snapshotEndsAt))
      endSnapshot()
    if (snapshot || db.inTransaction) return
    beginRead ??= db.prepare('BEGIN DEFERRED')
    endRead ??= db.prepare('COMMIT')
    beginRead.run()
    snapshot = true
    snapshotReads = 1
    snapshotEndsAt = performance.now() + SNAPSHOT_MS
    if (!endScheduled) {
      endScheduled = true
      setImmediate(scheduledEnd)
    }
  }

  /** Runs `fn` on an open store, mapping every driver error to a KeywardError. */
  function guard<T>(fn: () => T, shared = false): T {
    if (closed) throw new KeywardError('store_unavailable', 'the SQLite store is closed')
    try {
      if (shared) enterSnapshot()
      else endSnapshot()
      return fn()
    } catch (e) {
      try {
        endSnapshot()
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
    const fields = (Object.keys(patch) as (keyof KeyPatch)[])
      .filter((f) => patch[f] !== undefined && f in PATCH_COLUMNS)
      .sort()
    const cacheKey = fields.join(',')
    const cache = st().updateKey
    let stmt = cache.get(cacheKey)
    if (stmt === undefined) {
      const set = fields.map((f) => `${PATCH_COLUMNS[f]} = ?`).join(', ')
      stmt = db
        .prepare(`UPDATE ${p}keys SET ${set} WHERE id = ? RETURNING ${KEY_SELECT}`)
        .raw(true)
      cache.set(cacheKey, stmt)
    }
    const values = fields.map((f) => {
      const v = patch[f]
      if (JSON_FIELDS.has(f))
        return Array.isArray(v)
          ? encodeList(v)
          : encodeObject(v as Readonly<Record<string, unknown>>)
      if (f === 'quota') return v === null ? null : JSON.stringify(v)
      return v
    })
    const row = stmt.get(...values, id) as Row | undefined
    if (row === undefined) return null
    const after = keyFromRow(row)
    if (auditOf !== undefined && before !== undefined) appendIn(auditOf(keyFromRow(before), after))
    return after
  })
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

  function migrateOnce(): void {
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${p}migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
    )
    const latest = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version
    const current =
      (db.prepare(`SELECT max(version) FROM ${p}migrations`).pluck().get() as number | null) ?? 0
    if (current > latest)
      throw new KeywardError(
        'store_unavailable',
        `${file} has keyward schema version ${current}, newer than this keyward (${latest}): upgrade keyward`,
      )
    for (const m of SQLITE_MIGRATIONS) {
      // Each migration is its own immediate transaction: a second process migrating at the
      // same time waits, then sees the version recorded and skips it.
      db.transaction(() => {
        const done = db.prepare(`SELECT 1 FROM ${p}migrations WHERE version = ?`).get(m.version)
        if (done !== undefined) return
        db.exec(m.sql(p))
        db.prepare(`INSERT INTO ${p}migrations (version, name, applied_at) VALUES (?, ?, ?)`).run(
          m.version,
          m.name,
          Date.now(),
        )
      }).immediate()
    }
  }

  function listKeysStmt(q: ListKeysQuery): Stmt {
    const cacheKey = `${q.ownerId !== undefined}:${q.status ?? ''}:${q.prefix !== undefined}:${q.scope !== undefined}:${q.expiringBefore !== undefined}:${q.cursor !== undefined}`
    const cache = st().listKeys
    let stmt = cache.get(cacheKey)
    if (stmt === undefined) {
      const where: string[] = []
      if (q.ownerId !== undefined) where.push('owner_id = @owner')
      if (q.status === 'active')
        where.push("state = 'active' AND (expires_at IS NULL OR expires_at > @now)")
      else if (q.status === 'expired')
        where.push("state = 'active' AND expires_at IS NOT NULL AND expires_at <= @now")
      else if (q.status !== undefined) where.push('state = @status')
      if (q.prefix !== undefined) where.push('prefix = @prefix')
      if (q.scope !== undefined)
        where.push(
          "scopes <> '[]' AND EXISTS (SELECT 1 FROM json_each(scopes) WHERE value = @scope)",
        )
      if (q.expiringBefore !== undefined)
        where.push('expires_at > @now AND expires_at < @expiringBefore')
      if (q.cursor !== undefined) where.push('(created_at, id) < (@afterCreatedAt, @afterId)')
      stmt = db
        .prepare(
          `SELECT ${KEY_SELECT} FROM ${p}keys ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY created_at DESC, id DESC LIMIT @limit`,
        )
        .raw(true)
      cache.set(cacheKey, stmt)
    }
    return stmt
  }

  return {
    kind: 'sqlite',
    async migrate() {
      guard(() => {
        try {
          migrateOnce()
        } catch (e) {
          // A read-only file that is already migrated is fine for verify-only use.
          if (db.readonly && String((e as { code?: unknown }).code).startsWith('SQLITE_READONLY')) {
            const current = db.prepare(`SELECT max(version) FROM ${p}migrations`).pluck().get()
            if (current === SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version) return
          }
          throw e
        }
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
        if (r === undefined && snapshot && snapshotReads > 1) {
          endSnapshot()
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
        const params: Record<string, unknown> = { limit: query.limit + 1 }
        if (query.ownerId !== undefined) params.owner = query.ownerId
        if (query.status === 'active' || query.status === 'expired') params.now = query.now
        else if (query.status !== undefined) params.status = query.status
        if (query.prefix !== undefined) params.prefix = query.prefix
        if (query.scope !== undefined) params.scope = query.scope
        if (query.expiringBefore !== undefined) {
          params.now = query.now
          params.expiringBefore = query.expiringBefore
        }
        if (query.cursor !== undefined) {
          const after = decodeCursor(query.cursor)
          params.afterCreatedAt = after.createdAt
          params.afterId = after.id
        }
        const rows = listKeysStmt(query).all(params) as Row[]
        const items = rows.slice(0, query.limit).map((r) => keyFromRow(r))
        const last = items[items.length - 1]
        return {
          items,
          nextCursor:
            rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
        }
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
        endSnapshot()
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
  let db: Db
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
