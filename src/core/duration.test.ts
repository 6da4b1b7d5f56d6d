import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration } from './duration.js'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['24h', 86_400_000],
    ['90d', 7_776_000_000],
    ['2w', 1_209_600_000],
    ['1y', 31_536_000_000],
    ['1ms', 1],
    ['999999999ms', 999_999_999],
    [' 90d\n', 7_776_000_000],
  ])('reads %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each([
    '',
    '0d',
    '0ms',
    '90',
    'd',
    '-1d',
    '1.5h',
    '90 d',
    '90D',
    '1d2h',
    'x90d',
    '90dx',
    '1000000000ms',
  ])('refuses %j, naming it, the option and the accepted form', (text) => {
    expect(() => parseDuration(text, '--expires')).toThrow(
      expect.objectContaining({
        name: 'KeywardError',
        code: 'invalid_argument',
        message: `--expires ${JSON.stringify(text)} is not a duration: use a positive whole number and a unit (ms, s, m, h, d, w, y), e.g. "90d", "24h", "15m"`,
      }),
    )
  })

  it('calls the value a duration when no name is given', () => {
    expect(() => parseDuration('soon')).toThrow(/^duration "soon" is not a duration/)
  })
})

describe('formatDuration', () => {
  it.each([
    [31_536_000_000, '1y'],
    [1_209_600_000, '2w'],
    [7_776_000_000, '90d'],
    [86_400_000, '1d'],
    [90_000_000, '25h'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [60_000, '1m'],
    [90_000, '90s'],
    [1000, '1s'],
    [1500, '1500ms'],
    [999, '999ms'],
    [0, '0ms'],
  ])('writes %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })

  it('round-trips with parseDuration', () => {
    for (const text of ['500ms', '30s', '15m', '25h', '90d', '2w', '1y'])
      expect(formatDuration(parseDuration(text))).toBe(text)
  })
})
