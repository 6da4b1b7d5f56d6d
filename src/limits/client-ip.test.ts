import { describe, expect, it } from 'vitest'
import { clientIp, normalizeIp, trustProxies } from './client-ip.js'

const proxies = trustProxies(['10.0.0.0/8', '2001:db8::/32', '192.168.1.1'])

describe('clientIp', () => {
  it.each<[string, string | undefined, string | string[] | undefined, string | undefined]>([
    ['a direct caller', '203.0.113.7', undefined, '203.0.113.7'],
    ['a spoofed header from an untrusted peer', '203.0.113.7', '1.1.1.1', '203.0.113.7'],
    ['a trusted proxy with one hop', '10.0.0.5', '198.51.100.2', '198.51.100.2'],
    [
      'a trusted proxy, client-forged entries to the left',
      '10.0.0.5',
      '6.6.6.6, 198.51.100.2',
      '198.51.100.2',
    ],
    [
      'a chain of trusted proxies',
      '10.0.0.5',
      '198.51.100.2, 192.168.1.1, 10.1.2.3',
      '198.51.100.2',
    ],
    ['repeated headers', '10.0.0.5', ['6.6.6.6', '198.51.100.2, 10.9.9.9'], '198.51.100.2'],
    ['only trusted hops: the left-most', '10.0.0.5', '10.0.0.1, 10.0.0.2', '10.0.0.1'],
    ['garbage after a trusted hop: that hop', '10.0.0.5', 'evil, 10.0.0.7', '10.0.0.7'],
    ['garbage right behind the proxy: the proxy', '10.0.0.5', '1.1.1.1, not-an-ip', '10.0.0.5'],
    ['an empty header', '10.0.0.5', '', '10.0.0.5'],
    ['IPv4-mapped socket address', '::ffff:203.0.113.7', '1.1.1.1', '203.0.113.7'],
    ['IPv4-mapped trusted proxy', '::ffff:10.0.0.5', '198.51.100.2', '198.51.100.2'],
    [
      'an IPv6 proxy and an IPv6 client',
      '2001:db8::1',
      '2001:DB8:1::9, 2001:db8::2',
      '2001:db8:1::9',
    ],
    ['a port on a hop', '10.0.0.5', '198.51.100.2:4711', '198.51.100.2'],
    ['a bracketed IPv6 hop with a port', '10.0.0.5', '[2a00:1450::1]:443', '2a00:1450::1'],
    ['no socket address', undefined, '1.1.1.1', undefined],
  ])('%s', (_, socket, forwarded, expected) => {
    expect(clientIp(socket, forwarded, proxies)).toBe(expected)
  })

  it('ignores X-Forwarded-For entirely without trusted proxies', () => {
    expect(clientIp('10.0.0.5', '198.51.100.2')).toBe('10.0.0.5')
    expect(clientIp('10.0.0.5', '198.51.100.2', [])).toBe('10.0.0.5')
  })

  it('accepts the raw list of trusted proxies', () => {
    expect(clientIp('10.0.0.5', '198.51.100.2', ['10.0.0.0/8'])).toBe('198.51.100.2')
  })

  it('rejects a bad trusted proxy entry naming it', () => {
    expect(() => trustProxies(['10.0.0.0/33'])).toThrow(
      '"trustedProxies" entry "10.0.0.0/33" is not an IP address or CIDR range',
    )
  })
})

describe('normalizeIp', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    [' 1.2.3.4 ', '1.2.3.4'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['unknown', undefined],
    ['1.2.3', undefined],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeIp(input)).toBe(expected)
  })
})
