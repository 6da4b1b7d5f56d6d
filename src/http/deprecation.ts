// The response headers of an old secret inside its rotation grace period: `Deprecation`
// (RFC 9745, a structured-field date: `@` and epoch seconds) says since when the secret is
// superseded, `Sunset` (RFC 8594, an HTTP-date) when it stops working. Callers see both in
// their own logs and can switch to the new secret before the old one ends.
import type { SecretDeprecation } from '../core/verify-types.js'

// One frozen object per deprecated secret (the verifier caches its `deprecation` with the
// key): the header text is built once per secret, not per request.
const built = new WeakMap<SecretDeprecation, Readonly<Record<string, string>>>()

/**
 * `deprecation` and `sunset` headers (lowercase names) for a secret in its grace period.
 *
 * @example
 * deprecationHeaders({ deprecatedAt: Date.UTC(2026, 0, 1), sunsetAt: Date.UTC(2026, 0, 2) })
 * // { deprecation: '@1767225600', sunset: 'Fri, 02 Jan 2026 00:00:00 GMT' }
 */
export function deprecationHeaders(d: SecretDeprecation): Readonly<Record<string, string>> {
  let headers = built.get(d)
  if (headers === undefined) {
    headers = Object.freeze({
      deprecation: `@${Math.floor(d.deprecatedAt / 1000)}`,
      sunset: new Date(d.sunsetAt).toUTCString(),
    })
    built.set(d, headers)
  }
  return headers
}
