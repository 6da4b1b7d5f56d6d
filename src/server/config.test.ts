import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { KeywardError } from '../core/errors.js'
import {
  DEFAULT_DATABASE_URL,
  openKeyward,
  parseDatabaseUrl,
  peppersFromEnv,
  readPepperFile,
  redactUrl,
  resolveDatabaseUrl,
} from './config.js'

const PEPPER = 'config-test-pepper-0123456789abcdefghijklmn'
const tmp = (): string => mkdtempSync(join(tmpdir(), 'keyward-config-'))

describe('parseDatabaseUrl', () => {
  it.each([
    [
      'sqlite:./keyward.db',
      { kind: 'sqlite', path: '/srv/app/keyward.db', display: './keyward.db' },
    ],
    [
      'sqlite:/var/lib/kw.db',
      { kind: 'sqlite', path: '/var/lib/kw.db', display: '/var/lib/kw.db' },
    ],
    [
      'sqlite:///var/lib/kw.db',
      { kind: 'sqlite', path: '/var/lib/kw.db', display: '/var/lib/kw.db' },
    ],
    ['sqlite::memory:', { kind: 'sqlite', path: ':memory:', display: 'sqlite::memory:' }],
  ])('%s', (url, expected) => {
    expect(parseDatabaseUrl(url, '/srv/app')).toEqual(expected)
  })

  it('postgres URLs keep the connection string, take ?schema= out and hide the password', () => {
    expect(parseDatabaseUrl('postgresql://app:pw@db:5433/keys?schema=kw&sslmode=require')).toEqual({
      kind: 'postgres',
      connectionString: 'postgresql://app:pw@db:5433/keys?sslmode=require',
      schema: 'kw',
      display: 'postgresql://app:***@db:5433/keys (schema kw)',
    })
    expect(parseDatabaseUrl('postgres://db/keys')).toMatchObject({
      schema: undefined,
      display: 'postgres://db/keys',
    })
  })

  it.each([
    ['', 'database URL "" is empty'],
    ['sqlite:', 'database URL "sqlite:" has no file path'],
    ['./keyward.db', 'database URL "./keyward.db" has an unknown scheme'],
    ['postgres:///db', 'database URL "postgres:///db" has no host'],
    ['postgres://u:pw@/db', 'database URL "postgres://u:***@/db" is not a valid URL'],
  ])('refuses %j', (url, start) => {
    expect(() => parseDatabaseUrl(url)).toThrow(
      `${start}: use sqlite:PATH (e.g. sqlite:./keyward.db), sqlite::memory: or postgres://USER@HOST:5432/DB`,
    )
  })

  it('redactUrl hides passwords only', () => {
    expect(redactUrl('postgres://u:p@h/d')).toBe('postgres://u:***@h/d')
    expect(redactUrl('postgres://u@h/d')).toBe('postgres://u@h/d')
  })

  it('resolveDatabaseUrl: flag, then KEYWARD_DATABASE_URL, then the default', () => {
    expect(resolveDatabaseUrl('sqlite:a.db', { KEYWARD_DATABASE_URL: 'sqlite:b.db' })).toEqual({
      url: 'sqlite:a.db',
      isDefault: false,
    })
    expect(resolveDatabaseUrl(undefined, { KEYWARD_DATABASE_URL: 'sqlite:b.db' })).toEqual({
      url: 'sqlite:b.db',
      isDefault: false,
    })
    expect(resolveDatabaseUrl(undefined, {})).toEqual({
      url: DEFAULT_DATABASE_URL,
      isDefault: true,
    })
  })
})

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
})

describe('openKeyward', () => {
  it('opens an in-memory SQLite store with an ephemeral pepper and round-trips a key', async () => {
    const opened = await openKeyward({ databaseUrl: 'sqlite::memory:', env: {}, warn: () => {} })
    try {
      expect(opened.pepperSource).toBe('ephemeral')
      const { key } = await opened.keyward.createKey({ name: 'a' })
      expect((await opened.keyward.verify(key)).ok).toBe(true)
    } finally {
      await opened.close()
    }
  })

  it('never generates a pepper when NODE_ENV is production', async () => {
    const dir = tmp()
    await expect(
      openKeyward({
        databaseUrl: `sqlite:${join(dir, 'k.db')}`,
        env: { NODE_ENV: 'production' },
        warn: () => {},
      }),
    ).rejects.toThrow(
      new KeywardError(
        'invalid_options',
        'no pepper set and NODE_ENV is production: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE (keyward generates a pepper only in development)',
      ),
    )
  })

  it('warns once when it generates a development pepper', async () => {
    const dir = tmp()
    const warnings: string[] = []
    const url = `sqlite:${join(dir, 'k.db')}`
    for (let i = 0; i < 2; i++) {
      const opened = await openKeyward({ databaseUrl: url, env: {}, warn: (m) => warnings.push(m) })
      expect(opened.pepperSource).toBe('development file')
      await opened.close()
    }
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(
      `generated a development pepper in ${join(dir, 'k.db')}.pepper (mode 0600)`,
    )
  })
})
