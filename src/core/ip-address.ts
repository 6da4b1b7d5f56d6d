import { isIP } from 'node:net'

// One reading of an IP address for every place that compares or counts clients: the IP
// allowlist, trusted proxies, the client behind X-Forwarded-For and the failed-auth limiter.

/**
 * The eight 16-bit groups of a valid IPv6 address (as `isIP` accepts it, without a zone); an
 * embedded IPv4 tail (`::ffff:1.2.3.4`) becomes the last two groups.
 */
function ipv6Groups(ip: string): number[] {
  let text = ip
  const dot = text.lastIndexOf('.')
  if (dot >= 0) {
    const colon = text.lastIndexOf(':')
    const [a = 0, b = 0, c = 0, d = 0] = text
      .slice(colon + 1)
      .split('.')
      .map(Number)
    text = `${text.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return groups.map((g) => Number.parseInt(g, 16))
}

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:0:0/96`) in any spelling:
 * `::ffff:1.2.3.4`, `::ffff:102:304`, `::FFFF:0102:0304`, `0:0:0:0:0:ffff:…`. Undefined for
 * any other IPv6 address.
 */
function mappedIpv4(ip: string): string | undefined {
  // the ffff group is always written out (groups have at most four digits): most IPv6
  // addresses are ruled out without parsing
  if (!/ffff/i.test(ip)) return undefined
  // how dual-stack sockets report IPv4 peers: one slice, no parsing
  if (/^::ffff:\d/i.test(ip)) {
    const tail = ip.slice(7)
    if (isIP(tail) === 4) return tail
  }
  const g = ipv6Groups(ip)
  if (g[0] !== 0 || g[1] !== 0 || g[2] !== 0 || g[3] !== 0 || g[4] !== 0 || g[5] !== 0xffff)
    return undefined
  const high = g[6]!
  const low = g[7]!
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}

/**
 * An address as keyward compares and counts it: IPv4-mapped IPv6 in any spelling (how
 * dual-stack sockets report IPv4 peers, and what proxies may forward) becomes plain IPv4; a
 * port (`1.2.3.4:5678`, `[::1]:80`), brackets or an IPv6 zone (`fe80::1%eth0`) are dropped;
 * IPv6 is lowercased. Undefined for anything that is not an IP address.
 *
 * @example
 * normalizeIp('::ffff:102:304') // '1.2.3.4'
 * normalizeIp('[2001:DB8::1]:443') // '2001:db8::1'
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
  if (family === 4) return ip
  if (family === 0) return undefined
  return mappedIpv4(ip) ?? ip.toLowerCase()
}

/**
 * The first `bits` bits of an IPv6 address as a canonical `hex:hex:…/bits` string, the same
 * for every spelling of addresses in that network.
 */
function ipv6Network(ip: string, bits: number): string {
  const groups = ipv6Groups(ip)
  const out: string[] = []
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16))
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff
    out.push(((groups[i] ?? 0) & mask).toString(16))
  }
  return `${out.join(':')}/${bits}`
}

/**
 * The group a client is counted in: an IPv4 address itself, an IPv6 address its network of
 * `ipv6Bits` leading bits (a single host can use any address of its /64). Undefined for
 * anything that is not an IP address.
 */
export function clientNetwork(value: string | undefined, ipv6Bits: number): string | undefined {
  const ip = normalizeIp(value)
  if (ip === undefined || !ip.includes(':')) return ip
  return ipv6Network(ip, ipv6Bits)
}
