import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTVerifyGetKey } from 'jose'
import { TokenError } from './errors.js'

/** How a remote JWKS is fetched and cached. */
export interface RemoteKeySetOptions {
  /** After a fetch (or a failed one), no other fetch for an unknown kid before this. */
  cooldownMs: number
  /** A key set older than this is fetched again before use. */
  cacheMaxAgeMs: number
  /** A fetch slower than this fails. */
  timeoutMs: number
}

const unavailable = (cause: unknown): TokenError =>
  new TokenError(
    'jwks_unavailable',
    'the key set (JWKS) could not be fetched: the token was not checked; try again later',
    { cause },
  )

/** Errors that are about the token, not about fetching the key set. */
function isTokenFault(e: unknown): boolean {
  return (
    e instanceof errors.JWKSNoMatchingKey ||
    e instanceof errors.JWKSMultipleMatchingKeys ||
    e instanceof errors.JOSENotSupported
  )
}

/**
 * jose's `createRemoteJWKSet` (one fetch at a time, a new fetch for an unknown kid at most
 * once per cooldown, redirects refused), with what it lacks for a server:
 * - a failed fetch starts a cooldown too, so a JWKS endpoint that is down is not asked again
 *   on every request;
 * - while fetching fails, the last good key set keeps verifying (stale-if-error); a kid it
 *   does not know is then `jwks_unavailable`, since the token may be signed by a newer key.
 */
export function createRemoteKeySet(url: URL, options: RemoteKeySetOptions): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, {
    cooldownDuration: options.cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs,
    timeoutDuration: options.timeoutMs,
  })
  let failedAt = Number.NEGATIVE_INFINITY
  let stale: JWTVerifyGetKey | null = null
  let lastFailure: unknown = null

  async function fromStale(...args: Parameters<JWTVerifyGetKey>) {
    if (stale === null) throw unavailable(lastFailure)
    try {
      return await stale(...args)
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey) throw unavailable(lastFailure)
      throw e
    }
  }

  return async (header, token) => {
    if (Date.now() < failedAt + options.cooldownMs) return fromStale(header, token)
    try {
      return await remote(header, token)
    } catch (e) {
      if (isTokenFault(e)) throw e
      failedAt = Date.now()
      lastFailure = e
      const last = remote.jwks()
      stale = last === undefined ? null : createLocalJWKSet(last)
      return fromStale(header, token)
    }
  }
}

const MAX_CACHED_SETS = 32
const remoteSets = new Map<string, JWTVerifyGetKey>()

/**
 * One remote key set per URL and options for the whole process, so that verifiers built per
 * call (the function form of the verify API) share its cache instead of fetching each time.
 */
export function sharedRemoteKeySet(url: URL, options: RemoteKeySetOptions): JWTVerifyGetKey {
  const id = `${url.href} ${options.cooldownMs} ${options.cacheMaxAgeMs} ${options.timeoutMs}`
  let set = remoteSets.get(id)
  if (set === undefined) {
    if (remoteSets.size >= MAX_CACHED_SETS) remoteSets.delete(remoteSets.keys().next().value!)
    set = createRemoteKeySet(url, options)
    remoteSets.set(id, set)
  }
  return set
}
