/** One versioned schema change; `sql` gets the quoted, validated schema name. */
export interface PostgresMigration {
  version: number
  name: string
  sql(schema: string): string
}

// Append only: a released migration is never edited, a change is a new version.
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'keys, secrets, audit, roles, meta',
    sql: (s) => `
CREATE TABLE ${s}.keys (
  id text PRIMARY KEY,
  name text NOT NULL,
  owner_id text,
  prefix text NOT NULL,
  hint text NOT NULL,
  scopes jsonb NOT NULL DEFAULT '[]',
  roles jsonb NOT NULL DEFAULT '[]',
  rate_limits jsonb NOT NULL DEFAULT '[]',
  quota jsonb,
  metadata jsonb NOT NULL DEFAULT '{}',
  ip_allowlist jsonb NOT NULL DEFAULT '[]',
  state text NOT NULL CHECK (state IN ('active', 'revoked', 'disabled')),
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  expires_at bigint,
  revoked_at bigint,
  last_used_at bigint,
  usage_count bigint NOT NULL DEFAULT 0
);
CREATE INDEX keys_created_idx ON ${s}.keys (created_at DESC, id DESC);
CREATE INDEX keys_owner_created_idx ON ${s}.keys (owner_id, created_at DESC, id DESC);

CREATE TABLE ${s}.secrets (
  hash text PRIMARY KEY,
  key_id text NOT NULL REFERENCES ${s}.keys (id) ON DELETE CASCADE,
  pepper_version integer NOT NULL,
  hint text NOT NULL,
  imported boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL,
  expires_at bigint
);
CREATE INDEX secrets_key_idx ON ${s}.secrets (key_id, created_at DESC);
CREATE INDEX secrets_pepper_idx ON ${s}.secrets (pepper_version);

CREATE TABLE ${s}.audit (
  seq bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  at bigint NOT NULL,
  action text NOT NULL,
  key_id text,
  actor text,
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at_idx ON ${s}.audit (at DESC, seq DESC);
CREATE INDEX audit_key_at_idx ON ${s}.audit (key_id, at DESC, seq DESC);

CREATE TABLE ${s}.roles (
  name text PRIMARY KEY,
  scopes jsonb NOT NULL
);

CREATE TABLE ${s}.meta (
  name text PRIMARY KEY,
  value text NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'indexes for the list filters',
    // Listing is newest first: a filter on state or prefix walks its index in that order and
    // stops at the page's end. Expiry is a range, and keys without one stay out of its index.
    // The scope filter (`scopes @> '["orders:read"]'`) uses a GIN index (jsonb_path_ops, the
    // smaller one, answers @>).
    sql: (s) => `
CREATE INDEX keys_state_created_idx ON ${s}.keys (state, created_at DESC, id DESC);
CREATE INDEX keys_prefix_created_idx ON ${s}.keys (prefix, created_at DESC, id DESC);
CREATE INDEX keys_expires_idx ON ${s}.keys (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX keys_scopes_idx ON ${s}.keys USING gin (scopes jsonb_path_ops);
`,
  },
  {
    version: 3,
    name: 'token signing keys',
    // At most one key has a null retired_at (the unique partial index): two nodes creating
    // the first key at once cannot both succeed.
    sql: (s) => `
CREATE TABLE ${s}.signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  public_jwk text NOT NULL,
  encrypted_private_key text NOT NULL,
  created_at bigint NOT NULL,
  activates_at bigint NOT NULL,
  retired_at bigint
);
CREATE UNIQUE INDEX signing_keys_one_unretired_idx ON ${s}.signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
`,
  },
  {
    version: 4,
    name: 'audit hash chain, admin event fields, rotation time, expiry policy',
    // Appends lock the one row of audit_chain (SELECT … FOR UPDATE) in the transaction that
    // writes the events, so several nodes on one database still build one chain. Events stored
    // before this version stay listed but are outside the chain: the anchor starts after them.
    // Key age (for the expiry policy) counts from the last rotation, else from creation.
    sql: (s) => `
ALTER TABLE ${s}.audit
  ADD COLUMN ip text,
  ADD COLUMN count integer NOT NULL DEFAULT 1,
  ADD COLUMN prev_hash text,
  ADD COLUMN hash text;
CREATE INDEX audit_actor_at_idx ON ${s}.audit (actor, at DESC, seq DESC);
CREATE INDEX audit_action_at_idx ON ${s}.audit (action, at DESC, seq DESC);
CREATE TABLE ${s}.audit_chain (
  id integer PRIMARY KEY CHECK (id = 1),
  anchor_seq bigint NOT NULL,
  anchor_hash text NOT NULL,
  head_seq bigint NOT NULL,
  head_hash text NOT NULL
);
INSERT INTO ${s}.audit_chain (id, anchor_seq, anchor_hash, head_seq, head_hash)
SELECT 1, coalesce(max(seq), 0), '${'0'.repeat(64)}', coalesce(max(seq), 0), '${'0'.repeat(64)}' FROM ${s}.audit;

ALTER TABLE ${s}.keys ADD COLUMN rotated_at bigint;
CREATE INDEX keys_age_idx ON ${s}.keys ((coalesce(rotated_at, created_at)));
CREATE INDEX keys_owner_age_idx ON ${s}.keys (owner_id, (coalesce(rotated_at, created_at)));
CREATE TABLE ${s}.policies (
  owner text PRIMARY KEY,
  max_age_ms bigint NOT NULL
);
`,
  },
  {
    version: 5,
    name: 'usage analytics, last use per secret',
    // One row per key, bucket, outcome and tag: minute buckets as recorded (span_ms 60000),
    // hour buckets once rolled up (3600000). The unique index is the upsert's conflict target
    // and serves the per-key reads; the bucket index the overview, roll-up and pruning.
    sql: (s) => `
CREATE TABLE ${s}.usage (
  key_id text NOT NULL,
  bucket bigint NOT NULL,
  span_ms integer NOT NULL,
  code text NOT NULL,
  tag text NOT NULL,
  count bigint NOT NULL,
  first_ip text,
  last_ip text
);
CREATE UNIQUE INDEX usage_cell_idx ON ${s}.usage (key_id, bucket, span_ms, code, tag);
CREATE INDEX usage_bucket_idx ON ${s}.usage (span_ms, bucket);
ALTER TABLE ${s}.secrets ADD COLUMN last_used_at bigint;
`,
  },
]
