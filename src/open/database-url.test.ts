import { describe, expect, it } from 'vitest'
import {
  DEFAULT_DATABASE_URL,
  parseDatabaseUrl,
  redactDatabaseUrl,
  resolveDatabaseUrl,
} from './database-url.js'

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

  it('redactDatabaseUrl hides passwords only', () => {
    expect(redactDatabaseUrl('postgres://u:p@h/d')).toBe('postgres://u:***@h/d')
    expect(redactDatabaseUrl('postgres://u@h/d')).toBe('postgres://u@h/d')
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
