import { isIP } from 'node:net'
import { assertValidIpEntry, compileIpAllowlist, type IpAllowlist } from '../core/ip.js'
import { KeywardError } from '../core/errors.js'

/** Compiled trusted proxy ranges (see `trustProxies`). */
export interface TrustedProxies {
  /** True when `ip` is one of the operator's proxies. */
  has(ip: string): boolean
}

const NONE: TrustedProxies = { has: () => false }

/**
 * Compiles the operator's trusted proxies (addresses or CIDR ranges, IPv4 and IPv6) once.
 *
 * @example
 * const proxies = trustProxies(['10.0.0.0/8', '2001:db8::/32'])
 * clientIp(req.socket.remoteAddress, req.headers['x-forwarded-for'], proxies)
 * @throws KeywardError `invalid_options` naming the bad entry
 */
export function trustProxies(entries: readonly string[]): TrustedProxies {
  if (!Array.isArray(entries)) {
    throw new KeywardError(
      'invalid_options',
      '"trustedProxies" must be a list of addresses or CIDR ranges',
    )
  }
  if (entries.length === 0) return NONE
  for (const entry of entries) {
    try {
      assertValidIpEntry(entry)
    } catch {
      throw new KeywardError(
        'invalid_options',
        `"trustedProxies" entry ${JSON.stringify(entry)} is not an IP address or CIDR range (e.g. "10.0.0.0/8")`,
      )
    }
  }
  const list: IpAllowlist = compileIpAllowlist(entries)
  return { has: (ip) => list.allows(ip) }
}

/**
 * An address as keyward keys limits by it: IPv4-mapped IPv6 (`::ffff:1.2.3.4`, how dual-stack
 * sockets report IPv4 peers) becomes plain IPv4; a port (`1.2.3.4:5678`, `[::1]:80`) or an IPv6
 * zone (`fe80::1%eth0`) is dropped. Undefined for anything that is not an IP address.
 */
export function normalizeIp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  let ip = value.trim()
  if (ip.startsWith('[')) {
    const end = ip.indexOf(']')
    if (end < 0) return undefined
    ip = ip.slice(1, end)
  } else {
    // One colon is IPv4 with a port; IPv6 has at least two.
    const colon = ip.indexOf(':')
    if (colon >= 0 && colon === ip.lastIndexOf(':')) ip = ip.slice(0, colon)
  }
  const zone = ip.indexOf('%')
  if (zone >= 0) ip = ip.slice(0, zone)
  const family = isIP(ip)
  if (family === 0) return undefined
  if (
    family === 6 &&
    ip.length > 7 &&
    ip.slice(0, 7).toLowerCase() === '::ffff:' &&
    isIP(ip.slice(7)) === 4
  ) {
    return ip.slice(7)
  }
  return family === 6 ? ip.toLowerCase() : ip
}

const trustedCache = new WeakMap<readonly string[], TrustedProxies>()

/**
 * The client's address: the socket peer, unless that peer is a trusted proxy; then the
 * right-most `X-Forwarded-For` entry that is not a trusted proxy (entries to its left were
 * written by the client and can be forged). With no trusted proxies, `X-Forwarded-For` is
 * ignored entirely, so a spoofed header from a direct caller changes nothing.
 *
 * @param socketAddress `req.socket.remoteAddress`
 * @param forwardedFor the `X-Forwarded-For` header (all values, if repeated)
 * @param trustedProxies compiled by `trustProxies`, or the raw list (compiled once per array)
 * @example
 * const ip = clientIp(req.socket.remoteAddress, req.headers['x-forwarded-for'], ['10.0.0.0/8'])
 */
export function clientIp(
  socketAddress: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trustedProxies: TrustedProxies | readonly string[] = NONE,
): string | undefined {
  let trusted: TrustedProxies
  if (Array.isArray(trustedProxies)) {
    const list = trustedProxies as readonly string[]
    trusted = trustedCache.get(list) ?? trustProxies(list)
    trustedCache.set(list, trusted)
  } else {
    trusted = trustedProxies as TrustedProxies
  }
  let ip = normalizeIp(socketAddress)
  if (ip === undefined || forwardedFor === undefined || !trusted.has(ip)) return ip
  const header = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')
  let end = header.length
  // Right to left: each trusted hop vouches for the entry before it, nothing more.
  while (end > 0) {
    const start = header.lastIndexOf(',', end - 1)
    const hop = normalizeIp(header.slice(start + 1, end))
    // Garbage (or an empty entry) came from beyond the last trusted proxy: keep that proxy's
    // address rather than a value the client can vary at will.
    if (hop === undefined) return ip
    ip = hop
    if (!trusted.has(hop)) return hop
    end = Math.max(start, 0)
  }
  return ip
}
