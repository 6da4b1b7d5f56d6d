import { describe, expect, it } from 'vitest'
import { SPELLINGS_OF_1_2_3_4 } from '../../test/fixtures/addresses.js'
import { clientIp, requestClientIp, trustProxies } from './client-ip.js'

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
    ['a trailing comma: the proxy', '10.0.0.5', '198.51.100.2,', '10.0.0.5'],
    ['an empty entry left of the client', '10.0.0.5', ', 198.51.100.2', '198.51.100.2'],
    ['an empty entry behind a trusted hop', '10.0.0.5', '198.51.100.2,, 10.0.0.7', '10.0.0.7'],
    ['one trusted hop alone', '10.0.0.5', '10.0.0.9', '10.0.0.9'],
    ['tabs around entries', '10.0.0.5', '6.6.6.6,\t198.51.100.2\t', '198.51.100.2'],
    ['an untrusted socket address with a port', '203.0.113.7:5000', '1.1.1.1', '203.0.113.7'],
    ['garbage as socket address', 'nonsense', '1.1.1.1', undefined],
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

  it('reads each raw list the same on every call', () => {
    const list = ['10.0.0.0/8']
    expect(clientIp('10.0.0.5', '198.51.100.2', list)).toBe('198.51.100.2')
    expect(clientIp('10.0.0.5', '198.51.100.3', list)).toBe('198.51.100.3')
    expect(clientIp('192.0.2.1', '198.51.100.3', list)).toBe('192.0.2.1')
  })

  it('rejects trusted proxies that are not a list', () => {
    expect(() => trustProxies('10.0.0.0/8' as never)).toThrow(
      expect.objectContaining({
        code: 'invalid_options',
        message: '"trustedProxies" must be a list of addresses or CIDR ranges',
      }),
    )
  })

  it('rejects a bad trusted proxy entry naming it', () => {
    expect(() => trustProxies(['10.0.0.0/33'])).toThrow(
      '"trustedProxies" entry "10.0.0.0/33" is not an IP address or CIDR range (e.g. "10.0.0.0/8")',
    )
    expect(() => trustProxies(['10.0.0.0/8', 'proxy'])).toThrow(
      expect.objectContaining({
        code: 'invalid_options',
        message: expect.stringContaining('"proxy"'),
      }),
    )
  })
})

describe('IPv4-mapped IPv6 in any spelling', () => {
  const trusted = trustProxies(['1.2.3.4', '10.0.0.0/8'])

  it.each(SPELLINGS_OF_1_2_3_4)('a trusted proxy written %s is trusted', (peer) => {
    expect(clientIp(peer, '198.51.100.2', trusted)).toBe('198.51.100.2')
  })

  it.each(SPELLINGS_OF_1_2_3_4)('a client written %s is 1.2.3.4', (spelling) => {
    expect(clientIp(spelling, '198.51.100.2', proxies)).toBe('1.2.3.4')
    expect(clientIp('10.0.0.5', `6.6.6.6, ${spelling}`, proxies)).toBe('1.2.3.4')
  })

  it('a trusted hop written in hex is skipped like its IPv4 form', () => {
    expect(clientIp('10.0.0.5', '198.51.100.2, ::ffff:a00:1', trusted)).toBe('198.51.100.2')
    expect(clientIp('::FFFF:0A00:0005', '198.51.100.2', trusted)).toBe('198.51.100.2')
  })
})

describe('requestClientIp', () => {
  const source = (ip: string | undefined, forwarded?: string) => ({
    ip,
    header: (name: string) => (name === 'x-forwarded-for' ? forwarded : undefined),
  })

  it('without trusted proxies: the peer as given, X-Forwarded-For unread', () => {
    expect(requestClientIp(source('::ffff:127.0.0.1', '1.1.1.1'), {}, undefined, null)).toBe(
      '::ffff:127.0.0.1',
    )
  })

  it('with trusted proxies: the client the proxy names', () => {
    expect(requestClientIp(source('10.0.0.5', '198.51.100.2'), {}, undefined, proxies)).toBe(
      '198.51.100.2',
    )
  })

  it('getPeer replaces the socket peer; anything but a string is unknown', () => {
    const req = { peer: '10.0.0.5' as unknown }
    const getPeer = (r: typeof req) => r.peer
    expect(requestClientIp(source('192.0.2.1', '198.51.100.2'), req, getPeer, proxies)).toBe(
      '198.51.100.2',
    )
    expect(requestClientIp(source('192.0.2.1'), { peer: 42 }, getPeer, null)).toBeUndefined()
    expect(requestClientIp(source('192.0.2.1'), { peer: '203.0.113.1' }, getPeer, null)).toBe(
      '203.0.113.1',
    )
  })

  it('lets an error of getPeer through', () => {
    const getPeer = () => {
      throw new Error('boom')
    }
    expect(() => requestClientIp(source('192.0.2.1'), {}, getPeer, null)).toThrow('boom')
  })
})
