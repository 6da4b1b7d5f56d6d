import { createKeyward, type Keyward, type KeywardOptions } from '../core/keyward.js'
import type { Store } from '../core/types.js'
import { type DatabaseTarget, parseDatabaseUrl, resolveDatabaseUrl } from './database-url.js'
import { type OpenChangesOptions, openChanges } from './open-changes.js'
import { type OpenStoreOptions, openStore } from './open-store.js'
import type { SigningSecrets } from '../tokens/key-encryption.js'
import { devPeppers, noPostgresPepper, type PepperSource, peppersFromEnv } from './peppers.js'
import {
  type SigningSecretSource,
  signingSecretFromEnv,
  signingSecrets,
} from './signing-secrets.js'

export interface OpenKeywardOptions extends OpenStoreOptions {
  /** `sqlite:PATH`, `sqlite::memory:` or `postgres://…`; default from `env`, then `sqlite:./keyward.db`. */
  databaseUrl?: string
  /** Environment to read `KEYWARD_DATABASE_URL`, `KEYWARD_PEPPER(_FILE)`, `KEYWARD_SIGNING_SECRET(_FILE)`, `NODE_ENV` from. */
  env?: Readonly<Record<string, string | undefined>>
  /** The directory a relative `sqlite:` path resolves against. Default: `process.cwd()`. */
  cwd?: string
  /** Receives warnings (a generated development pepper). Default: stderr. */
  warn?: (message: string) => void
  /** Passed to `createKeyward` (cache, clock, callbacks…). */
  keyward?: Omit<KeywardOptions, 'store' | 'peppers' | 'changes'>
  /**
   * How changes (revocations, rotations, updates, roles) reach the other processes on the
   * same database within about a second: over the database itself (SQLite file, PostgreSQL
   * LISTEN/NOTIFY) and over Redis pub/sub when `KEYWARD_REDIS_URL` is set or `redis` given.
   * `false`: not at all (other processes see changes within `cache.ttlMs`).
   */
  changes?: false | OpenChangesOptions
}

export interface OpenedKeyward {
  keyward: Keyward
  store: Store
  target: DatabaseTarget
  pepperSource: PepperSource
  /** What encrypts the token signing keys (`createTokenSigner({ secrets })`). */
  signingSecrets: SigningSecrets
  /** Where that secret comes from: `KEYWARD_SIGNING_SECRET(_FILE)`, or the pepper. */
  signingSecretSource: SigningSecretSource
  /** Flushes usage, stops timers, stops listening for changes, closes the store and its connections. */
  close(): Promise<void>
}

/**
 * Turns settings into a ready `Keyward`: parses the database URL, opens the store (SQLite is
 * migrated automatically; PostgreSQL needs `keyward migrate`), loads the pepper from
 * `KEYWARD_PEPPER` or `KEYWARD_PEPPER_FILE`, or, for a development SQLite file, from
 * `<db path>.pepper` (generated with mode 0600 and a warning when missing), and checks the
 * pepper against the store. Also reads `KEYWARD_SIGNING_SECRET` / `_FILE` (token signing keys).
 *
 * @example
 * const { keyward, close } = await openKeyward({ databaseUrl: 'sqlite:./keyward.db', env: process.env })
 * try { console.log((await keyward.verify(key)).ok) } finally { await close() }
 * @throws KeywardError `invalid_options` (URL, pepper), `not_found` (`mustExist`), `pepper_mismatch`, `store_unavailable`, `store_corrupt`
 */
export async function openKeyward(options: OpenKeywardOptions = {}): Promise<OpenedKeyward> {
  const env = options.env ?? process.env
  const warn = options.warn ?? ((message: string) => process.stderr.write(`${message}\n`))
  const url = resolveDatabaseUrl(options.databaseUrl, env).url
  const target = parseDatabaseUrl(url, options.cwd)
  // read the environment before touching the database: a bad setting must not create files
  const fromEnv = peppersFromEnv(env)
  const signingSecret = signingSecretFromEnv(env)
  if (fromEnv === null && target.kind === 'postgres') throw noPostgresPepper(target.display)
  const storeOptions: OpenStoreOptions = {}
  if (options.mustExist !== undefined) storeOptions.mustExist = options.mustExist
  if (options.migrate !== undefined) storeOptions.migrate = options.migrate
  if (options.poolSize !== undefined) storeOptions.poolSize = options.poolSize
  const opened = await openStore(target, storeOptions)
  let changes: Awaited<ReturnType<typeof openChanges>> | undefined
  try {
    const loaded = fromEnv ?? (await devPeppers(opened, env, warn))
    changes = await openChanges(opened, options.changes, env)
    const keyward = await createKeyward({
      ...options.keyward,
      store: opened.store,
      peppers: loaded.peppers,
      ...(changes.feed === undefined ? {} : { changes: changes.feed }),
    })
    const feeds = changes
    return {
      keyward,
      store: opened.store,
      target,
      pepperSource: loaded.source,
      signingSecrets: signingSecrets(signingSecret, loaded.peppers),
      signingSecretSource: signingSecret?.source ?? 'pepper',
      async close() {
        try {
          await keyward.close()
        } finally {
          try {
            await feeds.close()
          } finally {
            await opened.close()
          }
        }
      },
    }
  } catch (error) {
    await changes?.close().catch(() => {})
    await opened.close().catch(() => {})
    throw error
  }
}
