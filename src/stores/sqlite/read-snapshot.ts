import type Database from 'better-sqlite3'

const SNAPSHOT_READS = 64
const SNAPSHOT_MS = 2

/**
 * Lookups by hash share one read transaction for at most SNAPSHOT_READS lookups, SNAPSHOT_MS,
 * and never past the current event-loop turn: in WAL mode, starting a read transaction (lock
 * syscalls, WAL index check) costs more than the lookup itself. The snapshot is at most a few
 * ms old, far below the verification cache's TTL, and every other operation ends it first so
 * writes never start from a stale snapshot.
 */
export function readSnapshot(db: Database.Database) {
  let snapshot = false
  let snapshotReads = 0
  let snapshotEndsAt = 0
  let endScheduled = false
  let beginRead: Database.Statement | null = null
  let endRead: Database.Statement | null = null
  function end(): void {
    if (!snapshot) return
    snapshot = false
    if (!db.open || !db.inTransaction) return
    try {
      endRead!.run()
    } catch (error) {
      // a read transaction left open would pin a stale snapshot for every later lookup
      if (db.inTransaction) db.exec('ROLLBACK')
      throw error
    }
  }
  function scheduledEnd(): void {
    endScheduled = false
    try {
      end()
    } catch {
      // the next operation meets the same error and reports it
    }
  }
  return {
    /** Joins the open snapshot, or begins one (unless a write transaction is open). */
    enter(): void {
      if (snapshot && (++snapshotReads > SNAPSHOT_READS || performance.now() > snapshotEndsAt))
        end()
      if (snapshot || db.inTransaction) return
      beginRead ??= db.prepare('BEGIN DEFERRED')
      endRead ??= db.prepare('COMMIT')
      beginRead.run()
      snapshot = true
      snapshotReads = 1
      snapshotEndsAt = performance.now() + SNAPSHOT_MS
      if (!endScheduled) {
        endScheduled = true
        setImmediate(scheduledEnd)
      }
    },
    /** Ends the snapshot, if one is open. */
    end,
    /** True when the open snapshot was begun by an earlier lookup than the current one. */
    sharedWithEarlier: (): boolean => snapshot && snapshotReads > 1,
  }
}
