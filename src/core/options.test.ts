import { describe, expect, it } from 'vitest'
import { msOption, rejectUnknownOptions } from './options.js'

describe('rejectUnknownOptions', () => {
  const known = new Set(['db', 'tablePrefix'])

  it('accepts known names, and no options at all', () => {
    expect(() =>
      rejectUnknownOptions({ db: 1, tablePrefix: 'kw_' }, known, 'createX'),
    ).not.toThrow()
    expect(() => rejectUnknownOptions({}, known, 'createX')).not.toThrow()
  })

  it('names the unknown option, the factory and the names it knows', () => {
    expect(() => rejectUnknownOptions({ db: 1, tablePrefx: 'kw_' }, known, 'createX')).toThrow(
      expect.objectContaining({
        name: 'KeywardError',
        code: 'invalid_options',
        message: 'unknown option "tablePrefx" for createX: expected one of db, tablePrefix',
      }),
    )
  })

  it('spells nested names in full', () => {
    expect(() => rejectUnknownOptions({ windowMs: 1 }, known, 'createX', 'limits.')).toThrow(
      'unknown option "limits.windowMs" for createX: expected one of limits.db, limits.tablePrefix',
    )
  })
})

describe('msOption', () => {
  it('gives the fallback when absent, and the value when it is a whole number >= min', () => {
    expect(msOption(undefined, 'timeoutMs', 500)).toBe(500)
    expect(msOption(1, 'timeoutMs', 500)).toBe(1)
    expect(msOption(0, 'busyTimeoutMs', 5000, 0)).toBe(0)
    expect(msOption(2 ** 53 - 1, 'timeoutMs', 500)).toBe(2 ** 53 - 1)
  })

  it.each([
    [0, 1, '"timeoutMs" must be a whole number of ms >= 1, got 0'],
    [-1, 0, '"timeoutMs" must be a whole number of ms >= 0, got -1'],
    [1.5, 1, '"timeoutMs" must be a whole number of ms >= 1, got 1.5'],
    [2 ** 53, 1, '"timeoutMs" must be a whole number of ms >= 1, got 9007199254740992'],
    ['100', 1, '"timeoutMs" must be a whole number of ms >= 1, got "100"'],
    [Number.NaN, 1, '"timeoutMs" must be a whole number of ms >= 1, got null'],
  ])('refuses %j (min %i), naming the option', (value, min, message) => {
    expect(() => msOption(value, 'timeoutMs', 500, min)).toThrow(
      expect.objectContaining({ name: 'KeywardError', code: 'invalid_options', message }),
    )
  })
})
