// The bootstrap admin key: on the first start of `keyward serve` against a store without an
// admin key, one is created and shown once, so the admin API can be used at all. A meta record
// claimed with setMetaIfAbsent decides it once per store: two nodes starting together create
// one key, and no later start creates another, even after that key is revoked.
import { randomBytes } from 'node:crypto'
import type { Keyward } from '../core/keyward.js'
import { compileImpliedScopes, compileScopes, expandImplied, expandRoles } from '../core/scopes.js'
import type { KeyRecord } from '../core/types.js'
import { ADMIN_SCOPES, SERVICE_IMPLIED_SCOPES } from './app.js'

/** The meta record that says the bootstrap was decided for this store. */
export const BOOTSTRAP_META = 'bootstrap_admin_v1'
/** The name of the bootstrap key (shown in listings, so it can be found and revoked). */
export const BOOTSTRAP_KEY_NAME = 'bootstrap admin'
/** Who the audit trail records as the creator of the bootstrap key. */
export const BOOTSTRAP_ACTOR = 'keyward serve (bootstrap)'

const IMPLIED = compileImpliedScopes(SERVICE_IMPLIED_SCOPES)
const PAGE = 1000

/** True when the store holds an active key that may call every admin route. */
export async function hasAdminKey(keyward: Keyward): Promise<boolean> {
  const roles = await keyward.listRoles()
  const isAdmin = (k: KeyRecord) =>
    compileScopes(expandImplied(expandRoles(k.scopes, k.roles, roles), IMPLIED)).missing(
      ADMIN_SCOPES,
    ).length === 0
  let cursor: string | undefined
  do {
    const page = await keyward.listKeys({
      status: 'active',
      limit: PAGE,
      ...(cursor === undefined ? {} : { cursor }),
    })
    if (page.items.some(isAdmin)) return true
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  return false
}

/** What the bootstrap decided. */
export type BootstrapResult =
  | { created: true; key: string; record: KeyRecord }
  | { created: false; reason: 'decided before' | 'admin key exists' | 'another node' }

/**
 * Creates the bootstrap admin key (scope `admin`) when this store never had its bootstrap
 * decided and holds no admin key; otherwise creates nothing.
 *
 * @throws KeywardError `store_unavailable` when the store cannot be reached
 */
export async function bootstrapAdminKey(keyward: Keyward): Promise<BootstrapResult> {
  const store = keyward.store
  if ((await store.getMeta(BOOTSTRAP_META)) !== null) {
    return { created: false, reason: 'decided before' }
  }
  const exists = await hasAdminKey(keyward)
  // the claim names this process, so exactly one of several starting nodes sees its own
  const claim = JSON.stringify({
    by: randomBytes(12).toString('hex'),
    at: new Date().toISOString(),
    created: !exists,
  })
  if ((await store.setMetaIfAbsent(BOOTSTRAP_META, claim)) !== claim) {
    return { created: false, reason: 'another node' }
  }
  if (exists) return { created: false, reason: 'admin key exists' }
  const { key, record } = await keyward.createKey({
    name: BOOTSTRAP_KEY_NAME,
    scopes: ['admin'],
    metadata: { bootstrap: true },
    actor: BOOTSTRAP_ACTOR,
  })
  return { created: true, key, record }
}

/** The lines `keyward serve` prints on stderr for a new bootstrap key. */
export function bootstrapMessage(key: string, record: KeyRecord, url: string): string {
  return [
    '',
    `keyward: this store had no admin key, so one was created: ${record.id} ("${record.name}", scope admin).`,
    'It is shown this once and never again; keyward keeps only a keyed hash of it:',
    '',
    `    ${key}`,
    '',
    'Use it:',
    '',
    `    curl -H "Authorization: Bearer ${key}" ${url}/v1/keys`,
    '',
    `Retire it once you have your own admin key: create one (POST /v1/keys with "scopes": ["admin"]), then revoke this one (DELETE /v1/keys/${record.id}).`,
    '',
    '',
  ].join('\n')
}
