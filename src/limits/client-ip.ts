import { KeywardError } from '../core/errors.js'
import { assertValidIpEntry, compileIpAllowlist, type IpAllowlist } from '../core/ip.js'
import { normalizeIp } from '../core/ip-address.js'

export { normalizeIp }

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

/** What `requestClientIp` reads from a request; the HTTP layer's request views fit. */
export interface ClientSource {
  /** The socket's peer address, when the runtime has one. */
  readonly ip: string | undefined
  header(name: string): string | readonly string[] | undefined
}

/**
 * Who the client of a request is, for IP allowlists and the failed-auth limiter: the peer
 * (`getPeer(req)` when given, where anything but a string is unknown; else the socket's
 * address), or, when that peer is a trusted proxy, the client it names in `X-Forwarded-For`
 * (see `clientIp`). Without trusted proxies the peer is returned as given: every consumer
 * reads it with `normalizeIp`, so a request pays no string work here.
 *
 * @example
 * const ip = requestClientIp(view, req, options.getClientIp, options.trustedProxies)
 * @throws whatever `getPeer` throws
 */
export function requestClientIp<Req>(
  source: ClientSource,
  req: Req,
  getPeer: ((req: Req) => unknown) | undefined,
  trusted: TrustedProxies | null,
): string | undefined {
  let peer: string | undefined
  if (getPeer === undefined) peer = source.ip
  else {
    const custom = getPeer(req)
    peer = typeof custom === 'string' ? custom : undefined
  }
  return trusted === null ? peer : clientIp(peer, source.header('x-forwarded-for'), trusted)
}
