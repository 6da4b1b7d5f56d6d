/**
 * The lookup table's rowid for a keyed hash: the first 52 bits of its base64url text, a plain
 * JavaScript number, so a cold lookup is one descent of an integer b-tree instead of two text
 * b-trees. Hashes that share a slot take the next free ones (`SLOT_PROBES`). `slotSql`
 * computes the same number inside SQLite (triggers, migrations); they must agree for every
 * string, base64url or not (a character outside the alphabet counts -1, a missing one 0, as
 * `instr` does), and a test holds them to it.
 */
export function hashSlot(hash: string): number {
  let slot = 0
  for (let i = 0; i < 8; i++) slot = slot * 64 + digit(hash, i)
  // 48 bits, then the top 4 bits of the 9th character: below 2^53, exact in a double
  return slot * 16 + (digit(hash, 8) >> 2)
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const DIGITS = new Int8Array(128).fill(-1)
for (let i = 0; i < 64; i++) DIGITS[BASE64URL.charCodeAt(i)] = i

function digit(s: string, i: number): number {
  if (i >= s.length) return 0
  const c = s.charCodeAt(i)
  return c < 128 ? DIGITS[c]! : -1
}

/** `hashSlot` in SQL, over the text expression `hash`. */
export function slotSql(hash: string): string {
  const d = (i: number) => `(instr('${BASE64URL}', substr(${hash}, ${i}, 1)) - 1)`
  let sum = d(1)
  for (let i = 2; i <= 8; i++) sum = `(${sum} * 64 + ${d(i)})`
  return `(${sum} * 16 + (${d(9)} >> 2))`
}

/** Slots a hash may take: its own, or the next free one of the following 3 on a collision. */
export const SLOT_PROBES = 4

/** What the insert trigger aborts with when a hash finds no free slot (a `store_conflict`). */
export const SLOT_FULL = `keyward: ${SLOT_PROBES} stored secrets share the first 52 bits of this secret hash: use another secret (e.g. generate a new key)`

/** The first free slot from `base` (a column computed once), or an abort when all are taken. */
function freeSlotSql(p: string, base: string): string {
  const tries = Array.from(
    { length: SLOT_PROBES },
    (_, i) =>
      `WHEN NOT EXISTS (SELECT 1 FROM ${p}lookup WHERE slot = ${base} + ${i}) THEN ${base} + ${i}`,
  )
  return `CASE ${tries.join(' ')} ELSE RAISE(ABORT, '${SLOT_FULL}') END`
}

/** What the lookup table copies from a key as is. */
const LOOKUP_KEY_COLUMNS = ['name', 'owner_id', 'prefix', 'scopes', 'state', 'expires_at'] as const
/** Key columns that are empty on most keys: the lookup table packs them into one `extras`. */
const EXTRAS_COLUMNS = ['roles', 'rate_limits', 'quota', 'metadata', 'ip_allowlist'] as const

/**
 * `extras` of the key `k`: NULL when roles, rate limits, quota, metadata and IP allowlist are
 * all empty, else one JSON object of them. Each column a lookup returns costs about as much
 * as the b-tree descent, so the usual key reads 9 columns instead of 13.
 */
function extrasSql(k: string): string {
  return `CASE WHEN ${k}.roles = '[]' AND ${k}.rate_limits = '[]' AND ${k}.quota IS NULL AND ${k}.metadata = '{}' AND ${k}.ip_allowlist = '[]' THEN NULL
    ELSE json_object('roles', json(${k}.roles), 'rateLimits', json(${k}.rate_limits), 'quota', json(${k}.quota), 'metadata', json(${k}.metadata), 'ipAllowlist', json(${k}.ip_allowlist)) END`
}

/** One versioned schema change; `sql` gets the validated table prefix. */
export interface SqliteMigration {
  version: number
  name: string
  sql(prefix: string): string
}

// Append only: a released migration is never edited, a change is a new version.
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'keys, secrets, audit, roles, meta',
    sql: (p) => `
-- WITHOUT ROWID: the key is found by id in one b-tree, not an index then a table.
CREATE TABLE ${p}keys (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  owner_id TEXT,
  prefix TEXT NOT NULL,
  hint TEXT NOT NULL,
  scopes TEXT NOT NULL DEFAULT '[]',
  roles TEXT NOT NULL DEFAULT '[]',
  rate_limits TEXT NOT NULL DEFAULT '[]',
  quota TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  ip_allowlist TEXT NOT NULL DEFAULT '[]',
  state TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'disabled')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used_at INTEGER,
  usage_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX ${p}keys_created ON ${p}keys (created_at DESC, id DESC);
CREATE INDEX ${p}keys_owner_created ON ${p}keys (owner_id, created_at DESC, id DESC);

-- WITHOUT ROWID: the lookup by hash is one b-tree descent, the hot path of cold verification.
CREATE TABLE ${p}secrets (
  hash TEXT PRIMARY KEY NOT NULL,
  key_id TEXT NOT NULL REFERENCES ${p}keys (id) ON DELETE CASCADE,
  pepper_version INTEGER NOT NULL,
  hint TEXT NOT NULL,
  imported INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX ${p}secrets_key ON ${p}secrets (key_id, created_at DESC);
CREATE INDEX ${p}secrets_pepper ON ${p}secrets (pepper_version);

CREATE TABLE ${p}audit (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  at INTEGER NOT NULL,
  action TEXT NOT NULL,
  key_id TEXT,
  actor TEXT,
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ${p}audit_at ON ${p}audit (at DESC, seq DESC);
CREATE INDEX ${p}audit_key_at ON ${p}audit (key_id, at DESC, seq DESC);

CREATE TABLE ${p}roles (
  name TEXT PRIMARY KEY NOT NULL,
  scopes TEXT NOT NULL
);

CREATE TABLE ${p}meta (
  name TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'lookup table for cold verification',
    // A copy of what verification reads, one row per secret, kept by triggers: a cold lookup
    // reads one row of an integer-keyed table instead of joining secrets to keys by text ids,
    // which costs half as much. keys and secrets stay the record; this table can be rebuilt.
    sql: (p) => {
      const keyCols = `${LOOKUP_KEY_COLUMNS.join(', ')}, extras`
      const fromKey = (k: string) =>
        `${LOOKUP_KEY_COLUMNS.map((c) => `${k}.${c}`).join(', ')}, ${extrasSql(k)} AS extras`
      return `
CREATE TABLE ${p}lookup (
  slot INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  key_id TEXT NOT NULL,
  secret_expires_at INTEGER,
  name TEXT NOT NULL,
  owner_id TEXT,
  prefix TEXT NOT NULL,
  scopes TEXT NOT NULL,
  state TEXT NOT NULL,
  expires_at INTEGER,
  extras TEXT
);
CREATE INDEX ${p}lookup_key ON ${p}lookup (key_id);

-- hashes that share a slot take the next ones, as the insert trigger does
INSERT INTO ${p}lookup (slot, hash, key_id, secret_expires_at, ${keyCols})
SELECT slot + row_number() OVER (PARTITION BY slot ORDER BY hash) - 1, hash, key_id, secret_expires_at, ${keyCols}
FROM (SELECT ${slotSql('s.hash')} AS slot, s.hash, s.key_id, s.expires_at AS secret_expires_at, ${fromKey('k')}
      FROM ${p}secrets s JOIN ${p}keys k ON k.id = s.key_id)
ORDER BY 1;

CREATE TRIGGER ${p}lookup_secret_insert AFTER INSERT ON ${p}secrets BEGIN
  INSERT INTO ${p}lookup (slot, hash, key_id, secret_expires_at, ${keyCols})
  SELECT ${freeSlotSql(p, 'h.slot')}, NEW.hash, NEW.key_id, NEW.expires_at, ${fromKey('k')}
  FROM (SELECT ${slotSql('NEW.hash')} AS slot) h, ${p}keys k WHERE k.id = NEW.key_id;
END;
CREATE TRIGGER ${p}lookup_secret_expiry AFTER UPDATE OF expires_at ON ${p}secrets BEGIN
  UPDATE ${p}lookup SET secret_expires_at = NEW.expires_at
  WHERE key_id = NEW.key_id AND hash = NEW.hash;
END;
CREATE TRIGGER ${p}lookup_secret_delete AFTER DELETE ON ${p}secrets BEGIN
  DELETE FROM ${p}lookup WHERE key_id = OLD.key_id AND hash = OLD.hash;
END;
CREATE TRIGGER ${p}lookup_key_update AFTER UPDATE OF ${[...LOOKUP_KEY_COLUMNS, ...EXTRAS_COLUMNS].join(', ')} ON ${p}keys BEGIN
  UPDATE ${p}lookup SET ${LOOKUP_KEY_COLUMNS.map((c) => `${c} = NEW.${c}`).join(', ')}, extras = ${extrasSql('NEW')}
  WHERE key_id = NEW.id;
END;
`
    },
  },
  {
    version: 3,
    name: 'change log for other processes on the file',
    // What the SQLite change feed (sqlite-changes.ts) writes and polls: one row per change,
    // key_id NULL for "roles changed". AUTOINCREMENT: a seq is never reused after pruning, so a
    // reader can tell rows it missed from rows that never existed.
    sql: (p) => `
CREATE TABLE ${p}changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  origin TEXT NOT NULL,
  key_id TEXT,
  at INTEGER NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'indexes for the list filters',
    // Listing is newest first: a filter on state or prefix walks its index in that order and
    // stops at the page's end, instead of reading every key. Expiry is a range: keys without one
    // (most) stay out of the index. The scope filter reads each key's scopes (JSON) in date
    // order: no index, as a scope table kept by triggers would tax every insert for a rare query.
    sql: (p) => `
CREATE INDEX ${p}keys_state_created ON ${p}keys (state, created_at DESC, id DESC);
CREATE INDEX ${p}keys_prefix_created ON ${p}keys (prefix, created_at DESC, id DESC);
CREATE INDEX ${p}keys_expires ON ${p}keys (expires_at) WHERE expires_at IS NOT NULL;
`,
  },
  {
    version: 5,
    name: 'token signing keys',
    // At most one key has a null retired_at (the unique partial index): two nodes creating
    // the first key at once cannot both succeed.
    sql: (p) => `
CREATE TABLE ${p}signing_keys (
  kid TEXT PRIMARY KEY NOT NULL,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  encrypted_private_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  activates_at INTEGER NOT NULL,
  retired_at INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX ${p}signing_keys_one_unretired ON ${p}signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
`,
  },
  {
    version: 6,
    name: 'revocations in the change log',
    // 1 when the key stopped verifying (revoked or disabled): token verifiers with a revocation
    // list refuse its live tokens. Readers of an older version select the other columns only.
    sql: (p) => `
ALTER TABLE ${p}changes ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 7,
    name: 'audit hash chain, admin event fields, rotation time, expiry policy',
    // The chain's head and anchor live in one row, updated in the same IMMEDIATE transaction as
    // the events it covers: appends from several processes are serialised by SQLite's write
    // lock. Events stored before this version stay listed but are outside the chain: the anchor
    // starts after them. Key age (for the expiry policy) counts from the last rotation, else
    // from creation: an expression index answers "past the policy" without reading every key.
    sql: (p) => `
ALTER TABLE ${p}audit ADD COLUMN ip TEXT;
ALTER TABLE ${p}audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE ${p}audit ADD COLUMN prev_hash TEXT;
ALTER TABLE ${p}audit ADD COLUMN hash TEXT;
CREATE INDEX ${p}audit_actor_at ON ${p}audit (actor, at DESC, seq DESC);
CREATE INDEX ${p}audit_action_at ON ${p}audit (action, at DESC, seq DESC);
CREATE TABLE ${p}audit_chain (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  anchor_seq INTEGER NOT NULL,
  anchor_hash TEXT NOT NULL,
  head_seq INTEGER NOT NULL,
  head_hash TEXT NOT NULL
);
INSERT INTO ${p}audit_chain (id, anchor_seq, anchor_hash, head_seq, head_hash)
SELECT 1, coalesce(max(seq), 0), '${'0'.repeat(64)}', coalesce(max(seq), 0), '${'0'.repeat(64)}' FROM ${p}audit;

ALTER TABLE ${p}keys ADD COLUMN rotated_at INTEGER;
CREATE INDEX ${p}keys_age ON ${p}keys (coalesce(rotated_at, created_at));
CREATE INDEX ${p}keys_owner_age ON ${p}keys (owner_id, coalesce(rotated_at, created_at));
CREATE TABLE ${p}policies (
  owner TEXT PRIMARY KEY NOT NULL,
  max_age_ms INTEGER NOT NULL
) WITHOUT ROWID;
`,
  },
  {
    version: 8,
    name: 'usage analytics, last use per secret',
    // One row per key, bucket, outcome and tag: minute buckets as recorded (span_ms 60000),
    // hour buckets once rolled up (3600000). A rowid table, so that roll-up and pruning can
    // delete bounded batches by rowid; the unique index is the upsert's conflict target and
    // serves the per-key reads, the bucket index the overview, roll-up and pruning.
    sql: (p) => `
CREATE TABLE ${p}usage (
  key_id TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  span_ms INTEGER NOT NULL,
  code TEXT NOT NULL,
  tag TEXT NOT NULL,
  count INTEGER NOT NULL,
  first_ip TEXT,
  last_ip TEXT
);
CREATE UNIQUE INDEX ${p}usage_cell ON ${p}usage (key_id, bucket, span_ms, code, tag);
CREATE INDEX ${p}usage_bucket ON ${p}usage (span_ms, bucket);
ALTER TABLE ${p}secrets ADD COLUMN last_used_at INTEGER;
`,
  },
]
