// What every example shares: settings from the environment, opening keyward, shutdown.
// In your own project, import from 'keyward/server' / 'keyward/express' etc. instead of ../src.
import { type OpenedKeyward, openKeyward } from '../src/server/config.js'

/** PORT (default 3000; 0 picks a free port) and HOST (default 127.0.0.1). */
export const port = Number(process.env.PORT ?? 3000)
export const host = process.env.HOST ?? '127.0.0.1'

/** A tiny in-memory orders table, so the examples have something to protect. */
export interface Order {
  id: number
  item: string
  quantity: number
  /** The key that created the order: the key id, never the key. */
  createdBy: string
}
export const orders: Order[] = [{ id: 1, item: 'coffee', quantity: 2, createdBy: 'seed' }]

/** Validates a POST /orders body; returns an error sentence or the order fields. */
export function parseOrder(body: unknown): { item: string; quantity: number } | string {
  const b = body as { item?: unknown; quantity?: unknown } | null
  if (typeof b?.item !== 'string' || b.item.length === 0 || b.item.length > 100)
    return 'Send a JSON body with "item" (1-100 characters) and "quantity" (a whole number from 1).'
  const quantity = b.quantity ?? 1
  if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 1)
    return 'Send "quantity" as a whole number from 1.'
  return { item: b.item, quantity }
}

/**
 * Opens keyward from KEYWARD_DATABASE_URL (default sqlite:./keyward.db) and the pepper from
 * KEYWARD_PEPPER / KEYWARD_PEPPER_FILE (or a generated development pepper next to the file).
 */
export async function openExampleKeyward(): Promise<OpenedKeyward> {
  if (process.env.KEYWARD_REDIS_URL) {
    // rate limits and cross-node cache invalidation over Redis come with the limits work
    console.warn(
      'KEYWARD_REDIS_URL is set but this example does not use Redis yet: keys are verified against the database with a local cache',
    )
  }
  return openKeyward({ env: process.env })
}

/** Prints where the server listens (tests read this line) and closes cleanly on a signal. */
export function ready(actualPort: number, stop: () => Promise<void>): void {
  console.log(`listening on http://${host}:${actualPort}`)
  let stopping = false
  const shutdown = () => {
    if (stopping) return
    stopping = true
    stop().then(
      () => process.exit(0),
      (error) => {
        console.error(error)
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}
