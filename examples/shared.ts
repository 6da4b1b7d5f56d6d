// What every example shares: settings from the environment, opening keyward, shutdown.
// The imports are the package's own entry points, as in your project (`npm install keyward`);
// here tsconfig.json's "paths" resolve them to the sources, so the examples run without a build.

import { KeywardError } from 'keyward'
import { createMemoryLimiter, createRedisLimiter, type Limiter } from 'keyward/limits'
import type { ApiKeyOptions, FailedAuthOptions } from 'keyward/node'
import { type OpenedKeyward, openKeyward, redactDatabaseUrl } from 'keyward/open'
import { acceptTokens, createRevocationList } from 'keyward/tokens'

/**
 * Ends the example on a startup failure it can explain (a database it cannot open, a port it
 * cannot listen on): one line on stderr saying what failed and what to do, no stack trace,
 * exit code 1.
 */
function exitWith(line: string): never {
  process.stderr.write(`keyward example: ${line}\n`)
  process.exit(1)
}

function portFromEnv(): number {
  const text = process.env.PORT ?? '3000'
  const value = Number(text)
  if (text.trim() === '' || !Number.isInteger(value) || value < 0 || value > 65_535)
    exitWith(`PORT ${JSON.stringify(text)} is not a port: set it to a whole number from 0 to 65535`)
  return value
}

/** PORT (default 3000; 0 picks a free port) and HOST (default 127.0.0.1). */
export const port = portFromEnv()
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
 * Abuse protection every route shares: after 20 bad keys in a minute a client gets 429 before
 * any lookup (one object, so all routes count together), and X-Forwarded-For is believed only
 * from the proxies in KEYWARD_TRUSTED_PROXIES (comma-separated addresses or CIDR ranges).
 */
const failedAuth: FailedAuthOptions = { limit: 20, windowMs: 60_000 }
const trustedProxies = (process.env.KEYWARD_TRUSTED_PROXIES ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '')

/** The example's keyward, plus the options every `requireApiKey` of the app gets. */
export interface ExampleKeyward extends OpenedKeyward {
  /** `keyward` (the keyward, or it with tokens accepted), `failedAuth`, `trustedProxies`. */
  protection: Pick<ApiKeyOptions, 'keyward' | 'failedAuth' | 'trustedProxies'>
}

/**
 * Access tokens from `keyward serve` (POST /oauth/token) are accepted beside keys when
 * KEYWARD_TOKEN_ISSUER is set: keyward serve's URL. KEYWARD_TOKEN_AUDIENCE is this service's
 * URL as registered there (`--token-audience`); the key set is read from KEYWARD_JWKS_URL
 * (default `<issuer>/.well-known/jwks.json`), cached. Revoked keys' tokens are refused at once
 * (a revocation list fed by the database's change feed).
 */
function withTokens(opened: OpenedKeyward): ApiKeyOptions['keyward'] {
  const issuer = process.env.KEYWARD_TOKEN_ISSUER
  if (!issuer) return opened.keyward
  const audience = process.env.KEYWARD_TOKEN_AUDIENCE
  if (!audience)
    exitWith(
      "KEYWARD_TOKEN_ISSUER is set but KEYWARD_TOKEN_AUDIENCE is not: set it to this service's URL as keyward serve knows it (--token-audience)",
    )
  try {
    return acceptTokens({
      keyward: opened.keyward,
      jwksUrl:
        process.env.KEYWARD_JWKS_URL || `${issuer.replace(/\/+$/, '')}/.well-known/jwks.json`,
      issuer,
      audience,
      revocations: createRevocationList({ changes: opened.keyward }),
    })
  } catch (error) {
    if (error instanceof KeywardError) exitWith(`cannot accept tokens: ${error.message}`)
    throw error
  }
}

/**
 * The rate limit backend: Redis when KEYWARD_REDIS_URL is set (keys under KEYWARD_REDIS_PREFIX,
 * default `keyward`; KEYWARD_REDIS_FAILURE_POLICY `degrade` or `fail-closed`), else memory.
 */
async function openLimiter(): Promise<{ limiter: Limiter; close(): Promise<void> }> {
  const url = process.env.KEYWARD_REDIS_URL
  if (!url) {
    const limiter = createMemoryLimiter()
    return { limiter, close: () => limiter.close() }
  }
  const { Redis } = await import('ioredis')
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  // the limiter applies its failure policy while Redis is away; ioredis reconnects by itself
  client.on('error', () => {})
  const policy = process.env.KEYWARD_REDIS_FAILURE_POLICY
  const limiter = createRedisLimiter({
    client,
    keyPrefix: process.env.KEYWARD_REDIS_PREFIX || 'keyward',
    failurePolicy: policy === 'fail-closed' ? 'fail-closed' : 'degrade',
  })
  console.log(`rate limits and quotas on Redis at ${redactDatabaseUrl(url)}`)
  return {
    limiter,
    async close() {
      await limiter.close()
      await client.quit()
    },
  }
}

/**
 * Opens keyward from KEYWARD_DATABASE_URL (default sqlite:./keyward.db) and the pepper from
 * KEYWARD_PEPPER / KEYWARD_PEPPER_FILE (or a generated development pepper next to the file),
 * with rate limits and quotas on: keys created with `--rate` / `--quota` are limited.
 */
export async function openExampleKeyward(): Promise<ExampleKeyward> {
  const limits = await openLimiter()
  let opened: OpenedKeyward
  try {
    opened = await openKeyward({
      env: process.env,
      keyward: {
        limits: { limiter: limits.limiter },
        // usage analytics (per key, minute, outcome and route) are on; KEYWARD_USAGE_ANALYTICS=off
        // keeps the plain counters only (bench/http.ts measures what analytics cost)
        ...(process.env.KEYWARD_USAGE_ANALYTICS === 'off' ? { usage: { analytics: false } } : {}),
      },
    })
  } catch (error) {
    await limits.close()
    // keyward's errors are sentences naming the database and the fix; anything else is a bug
    if (error instanceof KeywardError) exitWith(`cannot start: ${error.message}`)
    throw error
  }
  return {
    ...opened,
    protection: { keyward: withTokens(opened), failedAuth, trustedProxies },
    async close() {
      try {
        await opened.close()
      } finally {
        await limits.close()
      }
    },
  }
}

/** Ends the example when it cannot listen on HOST:PORT, after closing keyward. */
export async function listenFailed(error: unknown, close: () => Promise<void>): Promise<never> {
  await close().catch(() => {})
  const code = (error as { code?: unknown } | null)?.code
  const why =
    code === 'EADDRINUSE'
      ? 'the port is already in use: stop the program that holds it, or set PORT to another port (PORT=0 picks a free one)'
      : code === 'EACCES'
        ? 'permission denied: ports below 1024 need privileges, set PORT to 1024 or above'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
          ? `${host} is not an address of this machine: set HOST to one (default 127.0.0.1)`
          : error instanceof Error
            ? error.message
            : String(error)
  exitWith(`cannot listen on ${host}:${port}: ${why}`)
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
