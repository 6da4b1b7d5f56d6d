/** How many recent evictions are remembered by key id; older ones are judged conservatively. */
const TRACKED_EVICTIONS = 4096

/**
 * A bounded verification cache keyed by a salted hash of the credential (never by the
 * credential). Found and not-found entries live in separate maps so that a flood of unknown
 * keys cannot push real keys out. Eviction is oldest-first; entries also expire after their TTL.
 *
 * Writes carry the `epoch` read when their lookup started: a lookup that was in flight while
 * its key was evicted (revoked, rotated, changed, here or on another node) holds the old state
 * and must not put it back, or the eviction would be undone for a whole TTL. Likewise a
 * "not found" that started before a key was created is not remembered.
 */
export class VerifyCache<T> {
  private readonly found = new Map<string, { value: T; keyId: string; expiresAtMs: number }>()
  private readonly notFound = new Map<string, number>()
  private readonly hashesByKey = new Map<string, Set<string>>()
  /** Bumped by every eviction, clear and creation. */
  private seq = 0
  /** Key id -> seq of its last eviction, the newest `TRACKED_EVICTIONS` of them. */
  private readonly evictedAt = new Map<string, number>()
  /** The newest seq forgotten from `evictedAt`: lookups older than it are judged stale. */
  private forgottenSeq = 0
  private clearedSeq = 0
  private createdSeq = 0

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly negativeTtlMs: number,
  ) {}

  /** Read when a lookup starts; pass it to `set` / `setNotFound` when the lookup ends. */
  get epoch(): number {
    return this.seq
  }

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

  /** Caches a found key, unless it was evicted since `epoch`; false when refused. */
  set(hash: string, keyId: string, value: T, nowMs: number, epoch: number): boolean {
    if (epoch !== this.seq && this.evictedSince(keyId, epoch)) return false
    this.notFound.delete(hash)
    if (this.found.size >= this.maxEntries && !this.found.has(hash)) {
      const oldest = this.found.entries().next().value
      if (oldest) this.deleteFound(oldest[0], oldest[1].keyId)
    }
    this.found.set(hash, { value, keyId, expiresAtMs: nowMs + this.ttlMs })
    const hashes = this.hashesByKey.get(keyId)
    if (hashes) hashes.add(hash)
    else this.hashesByKey.set(keyId, new Set([hash]))
    return true
  }

  /** Remembers an unknown credential, unless a key was created or the cache cleared since `epoch`. */
  setNotFound(hash: string, nowMs: number, epoch: number): boolean {
    if (this.negativeTtlMs <= 0 || epoch < this.createdSeq || epoch < this.clearedSeq) return false
    if (this.notFound.size >= this.maxEntries) {
      const oldest = this.notFound.keys().next().value
      if (oldest !== undefined) this.notFound.delete(oldest)
    }
    this.notFound.set(hash, nowMs + this.negativeTtlMs)
    return true
  }

  /**
   * Forgets a "not found" entry because a key with that hash was just created, and refuses
   * "not found" answers of lookups that started before.
   */
  forgetNotFound(hash: string): void {
    this.createdSeq = ++this.seq
    this.notFound.delete(hash)
  }

  /** Drops every entry of a key (revocation, rotation, update). */
  evictKey(keyId: string): void {
    const seq = ++this.seq
    this.evictedAt.delete(keyId)
    this.evictedAt.set(keyId, seq)
    if (this.evictedAt.size > TRACKED_EVICTIONS) {
      const [oldest, oldestSeq] = this.evictedAt.entries().next().value!
      this.evictedAt.delete(oldest)
      this.forgottenSeq = oldestSeq
    }
    const hashes = this.hashesByKey.get(keyId)
    if (!hashes) return
    for (const h of hashes) this.found.delete(h)
    this.hashesByKey.delete(keyId)
  }

  /** Drops everything (e.g. a role changed, so any key's scopes may have). */
  clear(): void {
    this.clearedSeq = ++this.seq
    this.evictedAt.clear()
    this.found.clear()
    this.notFound.clear()
    this.hashesByKey.clear()
  }

  get size(): { found: number; notFound: number } {
    return { found: this.found.size, notFound: this.notFound.size }
  }

  /** True when `keyId` may have been evicted after `epoch` (when unsure, true). */
  private evictedSince(keyId: string, epoch: number): boolean {
    if (epoch < this.clearedSeq || epoch < this.forgottenSeq) return true
    const at = this.evictedAt.get(keyId)
    return at !== undefined && at > epoch
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
