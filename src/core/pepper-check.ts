import { timingSafeEqual } from 'node:crypto'
import { KeywardError } from './errors.js'
import type { Hasher } from './hash.js'
import type { Store } from './types.js'

/** Constant-time string equality for stored check values. */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Refuses to run with a pepper other than the one the store's secrets were hashed with: a
 * wrong pepper would silently verify nothing. The first run on a store records a check value
 * per pepper version.
 *
 * @throws KeywardError `pepper_mismatch`, `store_unavailable`
 */
export async function checkPeppers(store: Store, hasher: Hasher): Promise<void> {
  for (const version of hasher.versions) {
    const expected = hasher.checkValue(version)
    const stored = await store.setMetaIfAbsent(`pepper_check_v${version}`, expected)
    if (!sameText(stored, expected)) {
      throw new KeywardError(
        'pepper_mismatch',
        `the pepper v${version} configured here is not the one this ${store.kind} store was created with, so no stored key could verify: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE to the original pepper`,
      )
    }
  }
  const used = await store.pepperVersions()
  const missing = used.filter((v) => !hasher.versions.includes(v))
  if (missing.length > 0) {
    throw new KeywardError(
      'pepper_mismatch',
      `this store holds secrets hashed with pepper ${missing.map((v) => `v${v}`).join(', ')}, which is not configured: add it to KEYWARD_PEPPER as "v${missing[0]}:<secret>" next to the newer one`,
    )
  }
}
