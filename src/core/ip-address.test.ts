import { describe, expect, it } from 'vitest'
import { SPELLINGS_OF_1_2_3_4 } from '../../test/fixtures/addresses.js'
import { clientNetwork, normalizeIp } from './ip-address.js'

describe('normalizeIp', () => {
  it.each(SPELLINGS_OF_1_2_3_4)('%s is 1.2.3.4', (spelling) => {
    expect(normalizeIp(spelling)).toBe('1.2.3.4')
  })

  it.each([
    [' 1.2.3.4 ', '1.2.3.4'],
    ['::ffff:ffff:ffff', '255.255.255.255'],
    ['::ffff:0:0', '0.0.0.0'],
    ['fe80::1%eth0', 'fe80::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['[2001:db8::1]:80', '2001:db8::1'],
    // not IPv4-mapped: these stay IPv6
    ['::1.2.3.4', '::1.2.3.4'],
    ['::ffff:0:102:304', '::ffff:0:102:304'],
    ['1::ffff:102:304', '1::ffff:102:304'],
    // a non-zero group anywhere before ffff: not mapped
    ['0:1:0:0:0:ffff:102:304', '0:1:0:0:0:ffff:102:304'],
    ['0:0:1:0:0:ffff:102:304', '0:0:1:0:0:ffff:102:304'],
    ['0:0:0:1:0:ffff:102:304', '0:0:0:1:0:ffff:102:304'],
    ['::1:ffff:102:304', '::1:ffff:102:304'],
    ['64:ff9b::102:304', '64:ff9b::102:304'],
    ['ffff::1', 'ffff::1'],
    ['unknown', undefined],
    ['1.2.3', undefined],
    ['[::1', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeIp(input)).toBe(expected)
  })
})

describe('clientNetwork', () => {
  it.each([
    ['1.2.3.4', 64, '1.2.3.4'],
    ['::ffff:102:304', 64, '1.2.3.4'],
    ['2001:db8:1:2::1', 64, '2001:db8:1:2:0:0:0:0/64'],
    ['2001:DB8:1:2:ffff:ffff:ffff:ffff', 64, '2001:db8:1:2:0:0:0:0/64'],
    ['2001:db8:1:2::1', 16, '2001:0:0:0:0:0:0:0/16'],
    ['2001:db8:1:2::1', 12, '2000:0:0:0:0:0:0:0/12'],
    ['2001:db8::1', 128, '2001:db8:0:0:0:0:0:1/128'],
    ['::1', 64, '0:0:0:0:0:0:0:0/64'],
    ['64:ff9b::1.2.3.4', 128, '64:ff9b:0:0:0:0:102:304/128'],
    ['nope', 64, undefined],
  ])('%s /%i -> %s', (ip, bits, expected) => {
    expect(clientNetwork(ip, bits)).toBe(expected)
  })
})
