/**
 * A bounded verification cache keyed by the secret's keyed hash (never by the secret).
 * Found and not-found entries live in separate maps so that a flood of unknown keys cannot
 * push real keys out. Eviction is oldest-first; entries also expire after their TTL.
 */
export class VerifyCache<T> {
  private readonly found = new Map<string, { value: T; keyId: string; expiresAtMs: number }>()
  private readonly notFound = new Map<string, number>()
  private readonly hashesByKey = new Map<string, Set<string>>()

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly negativeTtlMs: number,
  ) {}

  /** The cached value, `null` for a cached "not found", `undefined` for a miss. */
  get(hash: string, nowMs: number): T | null | undefined {
    const hit = this.found.get(hash)
    if (hit !== undefined) {
      if (hit.expiresAtMs > nowMs) return hit.value
      this.deleteFound(hash, hit.keyId)
      return undefined
    }
    const missUntil = this.notFound.get(hash)
    if (missUntil !== undefined) {
      if (missUntil > nowMs) return null
      this.notFound.delete(hash)
    }
    return undefined
  }

  set(hash: string, keyId: string, value: T, nowMs: number): void {
    this.notFound.delete(hash)
    if (this.found.size >= this.maxEntries && !this.found.has(hash)) {
      const oldest = this.found.entries().next().value
      if (oldest) this.deleteFound(oldest[0], oldest[1].keyId)
    }
    this.found.set(hash, { value, keyId, expiresAtMs: nowMs + this.ttlMs })
    const hashes = this.hashesByKey.get(keyId)
    if (hashes) hashes.add(hash)
    else this.hashesByKey.set(keyId, new Set([hash]))
  }

  setNotFound(hash: string, nowMs: number): void {
    if (this.negativeTtlMs <= 0) return
    if (this.notFound.size >= this.maxEntries) {
      const oldest = this.notFound.keys().next().value
      if (oldest !== undefined) this.notFound.delete(oldest)
    }
    this.notFound.set(hash, nowMs + this.negativeTtlMs)
  }

  /** Forgets a "not found" entry, e.g. when a key with that hash was just created. */
  forgetNotFound(hash: string): void {
    this.notFound.delete(hash)
  }

  /** Drops every entry of a key (revocation, rotation, update). */
  evictKey(keyId: string): void {
    const hashes = this.hashesByKey.get(keyId)
    if (!hashes) return
    for (const h of hashes) this.found.delete(h)
    this.hashesByKey.delete(keyId)
  }

  clear(): void {
    this.found.clear()
    this.notFound.clear()
    this.hashesByKey.clear()
  }

  get size(): { found: number; notFound: number } {
    return { found: this.found.size, notFound: this.notFound.size }
  }

  private deleteFound(hash: string, keyId: string): void {
    this.found.delete(hash)
    const hashes = this.hashesByKey.get(keyId)
    if (hashes) {
      hashes.delete(hash)
      if (hashes.size === 0) this.hashesByKey.delete(keyId)
    }
  }
}
