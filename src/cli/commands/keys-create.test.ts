import { existsSync, statSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runCli, TEST_PEPPER, tempDb } from '../testing.js'

describe('keyward keys create', () => {
  it('prints the key once, with id, hint, owner, scopes and expiry', async () => {
    const db = tempDb()
    const r = await runCli(
      [
        'keys',
        'create',
        '--name',
        'billing',
        '--owner',
        'svc:billing',
        '--scope',
        'orders:read',
        '--expires',
        '90d',
        '--db',
        db.url,
      ],
      { env: { KEYWARD_PEPPER: TEST_PEPPER } },
    )
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    const key = /^ {4}(kw_live_[0-9A-Za-z]{49})$/m.exec(r.stdout)?.[1]
    expect(key).toBeDefined()
    // the key appears on exactly one line
    expect(r.stdout.split('\n').filter((l) => l.includes(key!))).toHaveLength(1)
    expect(r.stdout).toContain('will not be shown again')
    expect(r.stdout).toMatch(/^ {2}id {7}key_[0-9A-Za-z]{16}$/m)
    expect(r.stdout).toContain(`hint     kw_live_${key!.slice(8, 12)}…${key!.slice(-4)}`)
    expect(r.stdout).toContain('owner    svc:billing')
    expect(r.stdout).toContain('scopes   orders:read')
    expect(r.stdout).toMatch(/expires {2}\d{4}-\d\d-\d\d \d\d:\d\dZ \(in 90d\)/)

    const v = await runCli(['keys', 'verify', '--db', db.url], {
      stdin: `${key}\n`,
      env: { KEYWARD_PEPPER: TEST_PEPPER },
    })
    expect(v.code).toBe(0)
  })

  it('--json gives the key and the record, with limits and metadata', async () => {
    const db = tempDb()
    const r = await runCli(
      [
        'keys',
        'create',
        '--name',
        'etl',
        '--prefix',
        'acme_test',
        '--rate',
        '100/1m',
        '--rate',
        'burst=20/1s',
        '--quota',
        '10000/30d',
        '--metadata',
        '{"team":"data"}',
        '--json',
        '--db',
        db.url,
      ],
      { env: { KEYWARD_PEPPER: TEST_PEPPER } },
    )
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.key).toMatch(/^acme_test_[0-9A-Za-z]{49}$/)
    expect(out).toMatchObject({
      name: 'etl',
      status: 'active',
      prefix: 'acme_test',
      rateLimits: [
        { name: 'default', limit: 100, window: '1m' },
        { name: 'burst', limit: 20, window: '1s' },
      ],
      quota: { limit: 10000, period: '30d' },
      metadata: { team: 'data' },
      expiresAt: null,
    })
  })

  it('generates a development pepper next to a new SQLite file, mode 0600, with a warning', async () => {
    const db = tempDb()
    const r = await runCli(['keys', 'create', '--name', 'dev', '--db', db.url], { env: {} })
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(
      `keyward: generated a development pepper in ${db.path}.pepper (mode 0600). Keep it with the database: without it no key verifies. In production set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE instead.\n`,
    )
    expect(statSync(`${db.path}.pepper`).mode & 0o777).toBe(0o600)
    // the second run reuses it quietly
    const again = await runCli(['keys', 'list', '--db', db.url], { env: {} })
    expect(again.code).toBe(0)
    expect(again.stderr).toBe('')
  })

  const usage: [string, string[], string][] = [
    [
      'an unknown flag',
      ['--name', 'a', '--colour', 'red'],
      `keyward: unknown option '--colour' (see keyward keys create --help)`,
    ],
    [
      'a bad duration',
      ['--name', 'a', '--expires', '9x'],
      'keyward: --expires "9x" is not a duration: use a positive whole number and a unit (ms, s, m, h, d, w, y), e.g. "90d", "24h", "15m"',
    ],
    [
      'a bad scope',
      ['--name', 'a', '--scope', 'orders::read'],
      'keyward: scope "orders::read" is not valid: use resource:action with lowercase letters, digits, "_", "." or "-" in each part, or "*" for a whole part (e.g. "orders:read", "orders:*")',
    ],
    [
      'a prefix with capitals',
      ['--name', 'a', '--prefix', 'Kw_Live'],
      'keyward: --prefix "Kw_Live" is not valid: use 1-16 lowercase letters or digits starting with a letter, optionally followed by _ and 1-16 more (e.g. "kw_live", "acme_test")',
    ],
    [
      'a missing --name',
      ['--scope', 'orders:read'],
      'keyward: --name is required: give the key a name, e.g. --name billing',
    ],
    [
      'a bad --rate',
      ['--name', 'a', '--rate', '100'],
      'keyward: --rate "100" is not valid: use [NAME=]N/WINDOW with a lowercase name, a positive whole number and a duration, e.g. "100/1m" or "burst=20/1s"',
    ],
    [
      'a bad --rate window',
      ['--name', 'a', '--rate', '100/1x'],
      'keyward: --rate window "1x" is not a duration: use a positive whole number and a unit (ms, s, m, h, d, w, y), e.g. "90d", "24h", "15m"',
    ],
    [
      'a repeated --rate name',
      ['--name', 'a', '--rate', '1/1s', '--rate', '2/1m'],
      'keyward: --rate "default" is given twice: name each limit, e.g. --rate burst=20/1s --rate hour=1000/1h',
    ],
    [
      'a bad --quota',
      ['--name', 'a', '--quota', 'lots'],
      'keyward: --quota "lots" is not valid: use N/PERIOD with a positive whole number and a duration, e.g. "10000/30d"',
    ],
    [
      'bad --metadata JSON',
      ['--name', 'a', '--metadata', '{team}'],
      `keyward: --metadata is not valid JSON: give a JSON object, e.g. --metadata '{"team":"billing"}'`,
    ],
    [
      '--metadata not an object',
      ['--name', 'a', '--metadata', '[1]'],
      `keyward: --metadata must be a JSON object, got an array: e.g. --metadata '{"team":"billing"}'`,
    ],
    [
      'a bad role name',
      ['--name', 'a', '--role', 'Admin'],
      'keyward: role "Admin" is not valid: use lowercase letters, digits, "_", "." or "-", starting with a letter',
    ],
    [
      'a missing option value',
      ['--name'],
      `keyward: option '--name <name>' argument missing (see keyward keys create --help)`,
    ],
    [
      'an extra argument',
      ['--name', 'a', 'extra'],
      'keyward: unexpected argument "extra" (see keyward keys create --help)',
    ],
  ]
  for (const [what, args, message] of usage) {
    it(`refuses ${what} with exit 2, one line, and creates nothing`, async () => {
      const db = tempDb()
      const r = await runCli(['keys', 'create', '--db', db.url, ...args], { env: {} })
      expect(r.code).toBe(2)
      expect(r.stderr).toBe(`${message}\n`)
      expect(r.stdout).toBe('')
      expect(existsSync(db.path)).toBe(false)
      expect(existsSync(`${db.path}.pepper`)).toBe(false)
    })
  }

  it('refuses a role that is not defined (exit 2)', async () => {
    const db = tempDb()
    const r = await runCli(['keys', 'create', '--name', 'a', '--role', 'reader', '--db', db.url], {
      env: { KEYWARD_PEPPER: TEST_PEPPER },
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'keyward: role "reader" is not defined: define it first (keyward roles set reader --scope …)\n',
    )
  })

  it('refuses a database URL it does not understand (exit 2)', async () => {
    const r = await runCli(['keys', 'create', '--name', 'a', '--db', 'mysql://x/y'], { env: {} })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'keyward: database URL "mysql://x/y" has an unknown scheme: use sqlite:PATH (e.g. sqlite:./keyward.db), sqlite::memory: or postgres://USER@HOST:5432/DB\n',
    )
  })

  it('takes the database from KEYWARD_DATABASE_URL', async () => {
    const db = tempDb()
    const r = await runCli(['keys', 'create', '--name', 'a'], {
      env: { KEYWARD_DATABASE_URL: db.url, KEYWARD_PEPPER: TEST_PEPPER },
    })
    expect(r.code).toBe(0)
    expect(existsSync(db.path)).toBe(true)
  })
})
