import { type ChangeFeed, ChangeListeners, checkChange } from '../../core/changes.js'
import { KeywardError } from '../../core/errors.js'

/** In-process change feeds: every feed of a bus hears what the others publish. */
export interface MemoryChangeBus {
  /** A new feed on this bus, for one `Keyward`. */
  feed(): ChangeFeed
  /** Tells every subscriber that changes may have been missed, as a reconnecting channel does. */
  reset(): void
}

/**
 * Change feeds between several `Keyward` instances of one process (tests, or several stores
 * views in one server). Delivery is synchronous: when `publish` resolves, every other feed's
 * listeners have dropped the change.
 *
 * @example
 * const bus = createMemoryChangeBus()
 * const a = await createKeyward({ store, peppers, changes: bus.feed() })
 * const b = await createKeyward({ store, peppers, changes: bus.feed() })
 * await a.revokeKey(id) // b refuses the key from now on
 */
export function createMemoryChangeBus(): MemoryChangeBus {
  const feeds = new Set<ChangeListeners>()
  return {
    feed() {
      const listeners = new ChangeListeners()
      let closed = false
      feeds.add(listeners)
      return {
        async publish(change) {
          checkChange(change)
          if (closed) throw new KeywardError('store_unavailable', 'the change feed is closed')
          for (const other of feeds) if (other !== listeners) other.deliver(change)
        },
        subscribe: (listener) => listeners.add(listener),
        async close() {
          closed = true
          feeds.delete(listeners)
        },
      }
    },
    reset() {
      for (const listeners of feeds) listeners.reset()
    },
  }
}
