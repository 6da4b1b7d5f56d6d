import { describe, expect, it } from 'vitest'
import { rejectUnknownOptions } from './options.js'

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
