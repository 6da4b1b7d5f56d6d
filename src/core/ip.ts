import { BlockList, isIP } from 'node:net'
import { KeywardError } from './errors.js'
import { normalizeIp } from './ip-address.js'

// node:net is a Node built-in, not a dependency: its BlockList matches IPv4/IPv6 CIDR ranges.

/** A compiled IP allowlist; `allows` answers for one client address. */
export interface IpAllowlist {
  /** Reads `ip` with `normalizeIp` (IPv4-mapped IPv6 in any spelling is its IPv4 address). */
  allows(ip: string | undefined): boolean
}

function splitEntry(entry: string): { address: string; bits: number | null; family: 4 | 6 } | null {
  const [address = '', bitsText, extra] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return null
  if (bitsText === undefined) return { address, bits: null, family: family as 4 | 6 }
  const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : -1
  if (bits < 0 || bits > (family === 4 ? 32 : 128)) return null
  return { address, bits, family: family as 4 | 6 }
}

/**
 * @throws KeywardError `invalid_argument` naming the bad entry
 */
export function assertValidIpEntry(entry: string): void {
  if (!splitEntry(entry)) {
    throw new KeywardError(
      'invalid_argument',
      `IP allowlist entry ${JSON.stringify(entry)} is not valid: use an IPv4 or IPv6 address, optionally with a /prefix length (e.g. "10.0.0.0/8", "2001:db8::/32")`,
    )
  }
}

/** Compiles allowlist entries (addresses or CIDR ranges). */
export function compileIpAllowlist(entries: readonly string[]): IpAllowlist {
  const list = new BlockList()
  for (const entry of entries) {
    const e = splitEntry(entry)
    if (!e) continue
    const type = e.family === 4 ? 'ipv4' : 'ipv6'
    if (e.bits === null) list.addAddress(e.address, type)
    else list.addSubnet(e.address, e.bits, type)
  }
  return {
    allows(ip) {
      const plain = normalizeIp(ip)
      if (plain === undefined) return false
      return list.check(plain, plain.includes(':') ? 'ipv6' : 'ipv4')
    },
  }
}
