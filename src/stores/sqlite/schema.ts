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
]
