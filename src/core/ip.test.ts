import { describe, expect, it } from 'vitest'
import { SPELLINGS_OF_1_2_3_4 } from '../../test/fixtures/addresses.js'
import { assertValidIpEntry, compileIpAllowlist } from './ip.js'

describe('assertValidIpEntry', () => {
  it.each([
    '10.1.2.3',
    '10.0.0.0/8',
    '0.0.0.0/0',
    '10.1.2.3/32',
    '2001:db8::1',
    '2001:db8::/32',
    '::/0',
    '2001:db8::1/128',
    '::ffff:10.1.2.3',
  ])('accepts %s', (entry) => {
    expect(() => assertValidIpEntry(entry)).not.toThrow()
  })

  it.each([
    '',
    'localhost',
    '10.1.2',
    '10.1.2.256',
    '10.0.0.0/33',
    '2001:db8::/129',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/8a',
    '10.0.0.0/ 8',
    '10.0.0.0/0008',
    '10.0.0.0/8/8',
    '/8',
  ])('refuses %j, naming it and the accepted forms', (entry) => {
    expect(() => assertValidIpEntry(entry)).toThrow(
      expect.objectContaining({
        name: 'KeywardError',
        code: 'invalid_argument',
        message: `IP allowlist entry ${JSON.stringify(entry)} is not valid: use an IPv4 or IPv6 address, optionally with a /prefix length (e.g. "10.0.0.0/8", "2001:db8::/32")`,
      }),
    )
  })
})

describe('compileIpAllowlist', () => {
  // built inside each test: an allowlist that fails to build must fail a test, not the file
  const entries = ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::1']

  it.each([
    '10.0.0.0',
    '10.255.255.255',
    '192.168.1.7',
    '2001:db8::1',
    '2001:db8:ffff::',
    '::1',
    '::ffff:10.1.2.3',
    '::ffff:192.168.1.7',
  ])('allows %s', (ip) => {
    expect(compileIpAllowlist(entries).allows(ip)).toBe(true)
  })

  it.each([
    '11.0.0.1',
    '9.255.255.255',
    '192.168.1.8',
    '2001:db9::1',
    '::2',
    '::ffff:11.0.0.1',
    '::ffff:zz',
    'not-an-ip',
    '',
  ])('refuses %j', (ip) => {
    expect(compileIpAllowlist(entries).allows(ip)).toBe(false)
  })

  it('reads only a leading ::ffff: as an IPv4-mapped address', () => {
    expect(compileIpAllowlist(entries).allows('abcdefg10.1.2.3')).toBe(false)
    expect(compileIpAllowlist(entries).allows('1:ffff:10.1.2.3')).toBe(false)
    // an IPv6 address in ::ffff: form that is not IPv4-mapped is matched as IPv6
    expect(compileIpAllowlist(['::ffff:1']).allows('::ffff:1')).toBe(true)
    expect(compileIpAllowlist(['::ffff:1']).allows('::ffff:2')).toBe(false)
  })

  it('refuses a request without a client address', () => {
    expect(compileIpAllowlist(entries).allows(undefined)).toBe(false)
  })

  it('matches IPv4 entries only against IPv4 addresses and IPv6 entries against IPv6', () => {
    expect(compileIpAllowlist(['0.0.0.0/0']).allows('2001:db8::1')).toBe(false)
    expect(compileIpAllowlist(['0.0.0.0/0']).allows('203.0.113.9')).toBe(true)
    expect(compileIpAllowlist(['::/0']).allows('2001:db8::1')).toBe(true)
  })

  it('an address entry allows that address only, a /N entry its whole range', () => {
    expect(compileIpAllowlist(['10.0.0.0']).allows('10.0.0.1')).toBe(false)
    expect(compileIpAllowlist(['10.0.0.0/31']).allows('10.0.0.1')).toBe(true)
    expect(compileIpAllowlist(['10.0.0.0/31']).allows('10.0.0.2')).toBe(false)
  })

  it('skips entries that are not valid and allows nothing when none is', () => {
    const some = compileIpAllowlist(['bogus', '10.0.0.0/40', '10.0.0.1'])
    expect(some.allows('10.0.0.1')).toBe(true)
    expect(some.allows('10.0.0.2')).toBe(false)
    expect(compileIpAllowlist([]).allows('10.0.0.1')).toBe(false)
  })
})

describe('compileIpAllowlist in every spelling', () => {
  it.each([['1.2.3.4'], ['1.2.3.0/24'], ['::ffff:1.2.3.4'], ['::ffff:102:300/120']])(
    'an entry %s allows 1.2.3.4 in every spelling, and nothing else',
    (entry) => {
      const list = compileIpAllowlist([entry])
      for (const spelling of SPELLINGS_OF_1_2_3_4)
        expect([spelling, list.allows(spelling)]).toEqual([spelling, true])
      for (const other of ['1.2.4.4', '::ffff:102:404', '::1.2.3.4', '2001:db8::1', 'x', undefined])
        expect([other, list.allows(other)]).toEqual([other, false])
    },
  )

  it('matches IPv6 ranges in any spelling', () => {
    const list = compileIpAllowlist(['2001:db8::/32'])
    expect(list.allows('2001:DB8:0:0::1')).toBe(true)
    expect(list.allows('[2001:db8::9]:443')).toBe(true)
    expect(list.allows('2001:db9::1')).toBe(false)
    expect(list.allows('1.2.3.4')).toBe(false)
  })
})
