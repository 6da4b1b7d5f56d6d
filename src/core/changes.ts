// Change feeds: how one process tells the others that a key or the roles changed, so that
// their verification caches drop what they hold of it within about a second instead of a
// cache TTL. The backends (PostgreSQL LISTEN/NOTIFY, a SQLite change table, Redis pub/sub,
// in-process) live in src/stores; what they share is here: the change, its wire form, and the
// dispatch to listeners.
import { randomBytes } from 'node:crypto'
import { KeywardError } from './errors.js'
import { isKeyId } from './key-format.js'

/**
 * What changed: one key (revoked, rotated, updated), or the role definitions. `revoked` says
 * the key stopped verifying (revoked or disabled): token verifiers keeping a revocation list
 * (keyward/tokens `createRevocationList`) refuse its live tokens from then on.
 */
export type Change =
  | { readonly kind: 'key'; readonly keyId: string; readonly revoked?: boolean }
  | { readonly kind: 'roles' }

/** What a feed tells its subscriber. Called synchronously; must not throw. */
export interface ChangeListener {
  /** Another process changed this: drop what the cache holds of it. */
  change(change: Change): void
  /**
   * The channel was lost and is back (or a message could not be read): changes may have been
   * missed, so everything cached must go.
   */
  reset(): void
  /** A background failure of the channel (lost, cannot reconnect), for logs. */
  error?(error: unknown): void
}

/**
 * A channel between the processes that share a keyward database.
 *
 * @example
 * const feed = createPostgresChangeFeed({ pool, schema: 'keyward' })
 * const keyward = await createKeyward({ store, peppers, changes: feed })
 * // … on shutdown: await keyward.close(); await feed.close()
 */
export interface ChangeFeed {
  /**
   * Tells every other subscriber of the channel (not this feed's own). Resolves once the
   * change is handed to the channel; rejects when it could not be.
   */
  publish(change: Change): Promise<void>
  /**
   * Starts listening (connecting, polling) on the first call. Returns what unsubscribes.
   * The feed reconnects by itself and calls `reset()` once it listens again.
   */
  subscribe(listener: ChangeListener): () => void
  /** Stops listening and polling; publishing afterwards rejects. */
  close(): Promise<void>
}

/** A random id per feed, so that a feed ignores its own messages coming back. */
export function newOrigin(): string {
  return randomBytes(9).toString('base64url')
}

/**
 * The one text form of a change on a channel: `<origin> key <key id>`, `<origin> revoked <key
 * id>` or `<origin> roles`. A process of an older version reads `revoked` as a message it does
 * not know and drops its whole cache: safe.
 *
 * @example
 * encodeChange('abc', { kind: 'key', keyId: 'key_0123456789abcdef' }) // 'abc key key_0123456789abcdef'
 */
export function encodeChange(origin: string, change: Change): string {
  if (change.kind === 'roles') return `${origin} roles`
  return `${origin} ${change.revoked === true ? 'revoked' : 'key'} ${change.keyId}`
}

/** A key change from its parts as channels carry them; null for a malformed key id. */
export function keyChange(keyId: string, revoked: boolean): Change | null {
  if (!isKeyId(keyId)) return null
  return revoked ? { kind: 'key', keyId, revoked: true } : { kind: 'key', keyId }
}

/** Throws `invalid_argument` for anything that is not a `Change`. */
export function checkChange(change: Change): Change {
  if (change?.kind === 'roles') return change
  if (
    change?.kind === 'key' &&
    typeof change.keyId === 'string' &&
    isKeyId(change.keyId) &&
    (change.revoked === undefined || typeof change.revoked === 'boolean')
  )
    return change
  throw new KeywardError(
    'invalid_argument',
    `a change is { kind: "key", keyId: "key_…", revoked?: boolean } or { kind: "roles" }, got ${JSON.stringify(change)}`,
  )
}

/** True when `value` has what a `ChangeFeed` needs (for options checks). */
export function isChangeFeed(value: unknown): value is ChangeFeed {
  const feed = value as Partial<ChangeFeed> | null
  return (
    typeof feed === 'object' &&
    feed !== null &&
    typeof feed.publish === 'function' &&
    typeof feed.subscribe === 'function' &&
    typeof feed.close === 'function'
  )
}

/**
 * A feed's subscribers and its origin: decodes what arrives, skips the feed's own messages and
 * tells every listener. Backends own one and call `received`, `deliver`, `reset`, `error`.
 */
export class ChangeListeners {
  readonly origin = newOrigin()
  private readonly listeners = new Set<ChangeListener>()

  /** Adds a listener; returns what removes it. */
  add(listener: ChangeListener): () => void {
    if (typeof listener?.change !== 'function' || typeof listener.reset !== 'function')
      throw new KeywardError(
        'invalid_argument',
        'subscribe needs a listener with change(change) and reset() methods',
      )
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  get size(): number {
    return this.listeners.size
  }

  /**
   * A message in `encodeChange` form. One this feed sent is skipped; one that cannot be read
   * (another version's, or garbage) resets: dropping the cache is always safe, keeping it not.
   */
  received(message: string): void {
    const first = message.indexOf(' ')
    if (first > 0 && message.slice(0, first) === this.origin) return
    const rest = first > 0 ? message.slice(first + 1) : ''
    const revoked = rest.startsWith('revoked ')
    const change =
      rest === 'roles'
        ? ({ kind: 'roles' } as const)
        : revoked || rest.startsWith('key ')
          ? keyChange(rest.slice(revoked ? 8 : 4), revoked)
          : null
    if (change === null) this.reset()
    else this.deliver(change)
  }

  /** A change another process made. */
  deliver(change: Change): void {
    for (const l of this.listeners) l.change(change)
  }

  reset(): void {
    for (const l of this.listeners) l.reset()
  }

  error(error: unknown): void {
    for (const l of this.listeners) l.error?.(error)
  }
}

/**
 * One feed over several channels (e.g. PostgreSQL LISTEN/NOTIFY and Redis pub/sub): a change
 * is published on all of them and `publish` resolves as soon as one took it (every process
 * listens on all, and a process whose listener was down drops its cache when it is back);
 * changes arriving on any are passed on, so most arrive twice (dropping twice is harmless).
 *
 * @example
 * const changes = combineChangeFeeds([createPostgresChangeFeed({ pool }), createRedisChangeFeed({ client })])
 */
export function combineChangeFeeds(feeds: readonly ChangeFeed[]): ChangeFeed {
  if (feeds.length === 1) return feeds[0]!
  return {
    async publish(change) {
      // the first channel that took it is enough; a slow or failing one does not hold it up
      try {
        await Promise.any(feeds.map((f) => f.publish(change)))
      } catch (error) {
        throw (error as AggregateError).errors[0]
      }
    },
    subscribe(listener) {
      const stops = feeds.map((f) => f.subscribe(listener))
      return () => {
        for (const stop of stops) stop()
      }
    },
    async close() {
      const results = await Promise.allSettled(feeds.map((f) => f.close()))
      const failed = results.find((r) => r.status === 'rejected')
      if (failed) throw failed.reason
    },
  }
}

/**
 * The delay before reconnect attempt `attempt` (0-based): 100 ms doubling up to 5 s, so a
 * short outage is over within a second and a long one does not hammer the server.
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(attempt, 6))
}
