import { KeywardError } from '../../core/errors.js'
import { NOT_MIGRATED } from '../messages.js'

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is PostgreSQL running and listening there?)',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS failure)',
  EPIPE: 'the connection was closed',
}

function codeOf(error: unknown): string {
  const e = error as { code?: unknown; errors?: unknown } | null
  if (typeof e?.code === 'string') return e.code
  // Node reports a refused localhost (IPv4 and IPv6 tried) as an AggregateError
  if (Array.isArray(e?.errors)) return codeOf(e.errors[0])
  return ''
}

/**
 * `host:port` of a pg Pool, for messages; never the user or password.
 *
 * @example
 * describePoolTarget({ connectionString: 'postgres://u:pw@db:5433/app' }) // 'db:5433'
 */
export function describePoolTarget(options: {
  host?: string | undefined
  port?: number | string | undefined
  connectionString?: string | undefined
}): string {
  let host = options.host
  let port = options.port
  if (options.connectionString !== undefined) {
    try {
      const url = new URL(options.connectionString)
      host ??= decodeURIComponent(url.hostname) || undefined
      port ??= url.port || undefined
      // socket dirs and hosts given as ?host=…
      host ??= url.searchParams.get('host') ?? undefined
    } catch {
      // not a URL (e.g. "host=db port=5432"): fall back to the defaults below
    }
  }
  host ??= process.env.PGHOST || 'localhost'
  port ??= process.env.PGPORT || 5432
  return `${host}:${port}`
}

/**
 * Turns a pg driver error into a `KeywardError` with one clear line and the driver error as
 * `cause`. `target` is `host:port`; `conflict` phrases a unique violation.
 *
 * @example
 * catch (e) { throw toPostgresKeywardError(e, 'db:5432') }
 */
export function toPostgresKeywardError(
  error: unknown,
  target: string,
  conflict = 'this record already exists',
): KeywardError {
  if (error instanceof KeywardError) return error
  const code = codeOf(error)
  const message = error instanceof Error ? error.message : String(error)
  const fail = (c: 'store_unavailable' | 'store_conflict' | 'store_corrupt', text: string) =>
    new KeywardError(c, text, { cause: error })

  if (code === '23505') return fail('store_conflict', conflict)
  if (code === '42P01' || code === '3F000') return fail('store_unavailable', NOT_MIGRATED)
  if (code === '28P01' || code === '28000')
    return fail(
      'store_unavailable',
      `PostgreSQL at ${target} refused the login: check the user and password of the database URL`,
    )
  if (code === '3D000')
    return fail(
      'store_unavailable',
      `the database named in the URL does not exist on PostgreSQL at ${target}: create it or fix the URL`,
    )
  if (code === '42501')
    return fail(
      'store_unavailable',
      `PostgreSQL at ${target} denied access (${message}): grant the keyward user rights on its schema`,
    )
  const reason = UNREACHABLE[code]
  if (reason !== undefined)
    return fail('store_unavailable', `cannot reach PostgreSQL at ${target}: ${reason}`)
  if (code.startsWith('08') || code.startsWith('57P') || code === '53300')
    return fail('store_unavailable', `cannot reach PostgreSQL at ${target}: ${message}`)
  if (/timeout|Connection terminated/i.test(message))
    return fail('store_unavailable', `cannot reach PostgreSQL at ${target}: ${message}`)
  if (/pool after calling end|called end on pool/i.test(message))
    return fail('store_unavailable', 'the PostgreSQL pool is closed')
  return fail(
    'store_unavailable',
    `PostgreSQL at ${target} failed: ${message}${code ? ` (${code})` : ''}`,
  )
}
