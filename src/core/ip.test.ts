import { describe, expect, it } from 'vitest'
import { SPELLINGS_OF_1_2_3_4 } from '../../test/fixtures/addresses.js'
import { compileIpAllowlist } from './ip.js'

describe('compileIpAllowlist', () => {
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
