import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { peppersFromEnv, readPepperFile } from './peppers.js'

const PEPPER = 'config-test-pepper-0123456789abcdefghijklmn'
const tmp = (): string => mkdtempSync(join(tmpdir(), 'keyward-peppers-'))

describe('pepper loading', () => {
  it('reads KEYWARD_PEPPER, or a trimmed KEYWARD_PEPPER_FILE with mode 0600', () => {
    expect(peppersFromEnv({ KEYWARD_PEPPER: PEPPER })).toEqual({
      peppers: [{ version: 1, secret: PEPPER }],
      source: 'KEYWARD_PEPPER',
    })
    const file = join(tmp(), 'pepper')
    writeFileSync(file, `\n${PEPPER}\n`, { mode: 0o600 })
    expect(peppersFromEnv({ KEYWARD_PEPPER_FILE: file })).toEqual({
      peppers: [{ version: 1, secret: PEPPER }],
      source: 'KEYWARD_PEPPER_FILE',
      file,
    })
    expect(peppersFromEnv({})).toBeNull()
  })

  it('accepts versioned peppers for rotation', () => {
    expect(peppersFromEnv({ KEYWARD_PEPPER: `v2:${PEPPER}x,v1:${PEPPER}` })?.peppers).toEqual([
      { version: 2, secret: `${PEPPER}x` },
      { version: 1, secret: PEPPER },
    ])
  })

  it('refuses both at once, a group- or world-readable file, a missing file, an empty file', () => {
    const dir = tmp()
    const shared = join(dir, 'shared')
    writeFileSync(shared, PEPPER, { mode: 0o640 })
    const empty = join(dir, 'empty')
    writeFileSync(empty, '\n', { mode: 0o600 })
    expect(() => peppersFromEnv({ KEYWARD_PEPPER: PEPPER, KEYWARD_PEPPER_FILE: shared })).toThrow(
      'both KEYWARD_PEPPER and KEYWARD_PEPPER_FILE are set: set only one of them',
    )
    expect(() => readPepperFile(shared)).toThrow(
      `KEYWARD_PEPPER_FILE ${shared} is accessible by other users (mode 0640)`,
    )
    expect(() => readPepperFile(join(dir, 'nope'))).toThrow(
      `KEYWARD_PEPPER_FILE ${join(dir, 'nope')} cannot be read: ENOENT`,
    )
    expect(() => readPepperFile(empty)).toThrow(`KEYWARD_PEPPER_FILE ${empty} is empty`)
  })

  it('refuses a pepper with too little entropy from KEYWARD_PEPPER and from KEYWARD_PEPPER_FILE', () => {
    const advice =
      'and a pepper needs at least 8: use a random secret (e.g. openssl rand -base64 48)'
    expect(() => peppersFromEnv({ KEYWARD_PEPPER: 'x'.repeat(32) })).toThrow(
      `KEYWARD_PEPPER has too little entropy: only 1 different character, ${advice}`,
    )
    const file = join(tmp(), 'pepper')
    writeFileSync(file, `${'ab'.repeat(32)}\n`, { mode: 0o600 })
    expect(() => peppersFromEnv({ KEYWARD_PEPPER_FILE: file })).toThrow(
      `KEYWARD_PEPPER_FILE ${file} has too little entropy: only 2 different characters, ${advice}`,
    )
  })
})
