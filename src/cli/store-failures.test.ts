import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from './testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

/** Every failure is one line on stderr, a non-zero exit, and no stack trace. */
function expectOneLine(r: { code: number; stderr: string }, code = 1): void {
  expect(r.code).toBe(code)
  expect(r.stderr.split('\n')).toHaveLength(2)
  expect(r.stderr).toMatch(/^keyward: .+\n$/)
  expect(r.stderr).not.toMatch(/\n\s+at /)
}

describe('the CLI when the database is broken', () => {
  it('a directory that does not exist', async () => {
    const db = tempDb()
    const url = `sqlite:${join(db.dir, 'missing', 'keyward.db')}`
    const r = await runCli(['keys', 'create', '--name', 'a', '--db', url], { env })
    expectOneLine(r)
    expect(r.stderr).toBe(
      `keyward: cannot create SQLite database ${join(db.dir, 'missing', 'keyward.db')}: the directory ${join(db.dir, 'missing')} does not exist: create it (mkdir -p ${join(db.dir, 'missing')}) or name a file in an existing directory\n`,
    )
  })

  it('a directory replaced by a file', async () => {
    const db = tempDb()
    writeFileSync(join(db.dir, 'data'), 'not a directory')
    const path = join(db.dir, 'data', 'keyward.db')
    const r = await runCli(['keys', 'create', '--name', 'a', '--db', `sqlite:${path}`], { env })
    expectOneLine(r)
    expect(r.stderr).toBe(
      `keyward: cannot open the database file ${path}: check that its directory exists and that this user may read and write it\n`,
    )
  })

  it('a path that is a directory', async () => {
    const db = tempDb()
    mkdirSync(db.path)
    const r = await runCli(['keys', 'list', '--db', db.url], { env })
    expectOneLine(r)
    expect(r.stderr).toBe(
      `keyward: cannot open SQLite database ${db.path}: it is a directory, not a file: name a file, e.g. sqlite:${join(db.path, 'keyward.db')}\n`,
    )
  })

  it('a corrupt file', async () => {
    const db = tempDb()
    writeFileSync(
      db.path,
      'this is not an SQLite database, just some text that is long enough'.repeat(100),
    )
    for (const argv of [['keys', 'list'], ['keys', 'create', '--name', 'a'], ['migrate']]) {
      const r = await runCli([...argv, '--db', db.url], { env })
      expectOneLine(r)
      expect(r.stderr).toBe(
        `keyward: ${db.path} is not a keyward SQLite database or is corrupt: restore it from a backup\n`,
      )
    }
  })

  it('a file locked by another process', async () => {
    const db = tempDb()
    await createTestKey(db.url)
    const holder = new Database(db.path)
    holder.exec('BEGIN EXCLUSIVE')
    try {
      const r = await runCli(['keys', 'create', '--name', 'b', '--db', db.url], { env })
      expectOneLine(r)
      expect(r.stderr).toBe(
        `keyward: the database file ${db.path} is locked by another process: try again, or stop the process holding a long transaction on it\n`,
      )
    } finally {
      holder.exec('ROLLBACK')
      holder.close()
    }
  })

  describe('a read-only file system', () => {
    let mounted: string | null = null
    afterEach(() => {
      if (mounted !== null) execFileSync('umount', [mounted])
      mounted = null
    })

    it('refuses writes with one line', async (ctx) => {
      const db = tempDb()
      const dir = join(db.dir, 'ro')
      mkdirSync(dir)
      // root ignores file modes, so a real read-only mount is used when this runs as root
      const root = process.getuid?.() === 0
      if (root) {
        try {
          execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' })
          mounted = dir
        } catch {
          ctx.skip()
        }
      }
      const url = `sqlite:${join(dir, 'keyward.db')}`
      await createTestKey(url)
      if (root) execFileSync('mount', ['-o', 'remount,ro', dir])
      else execFileSync('chmod', ['-R', 'a-w', dir])
      try {
        const r = await runCli(['keys', 'create', '--name', 'b', '--db', url], { env })
        expectOneLine(r)
        expect(r.stderr).toMatch(
          /^keyward: (the database file .*keyward\.db is read-only|cannot open the database file .*keyward\.db): .+\n$/,
        )
      } finally {
        if (!root) execFileSync('chmod', ['-R', 'u+w', dir])
      }
    })
  })

  it('an unreachable PostgreSQL', async () => {
    const r = await runCli(
      ['keys', 'list', '--db', 'postgres://postgres:secret@127.0.0.1:1/test'],
      { env },
    )
    expectOneLine(r)
    expect(r.stderr).toMatch(/^keyward: .*127\.0\.0\.1:1.*\n$/)
    expect(r.stderr).not.toContain('secret')
  })

  it('PostgreSQL without a pepper is refused before connecting', async () => {
    const r = await runCli(['keys', 'list', '--db', 'postgres://postgres@127.0.0.1:1/test'], {
      env: {},
    })
    expectOneLine(r, 2)
    expect(r.stderr).toBe(
      'keyward: no pepper for postgres://postgres@127.0.0.1:1/test: set KEYWARD_PEPPER (or KEYWARD_PEPPER_FILE) to a random secret of at least 32 characters (e.g. openssl rand -base64 48); keyward generates one only for local SQLite files\n',
    )
  })
})

describe('the CLI with a wrong pepper', () => {
  it('a database copied without its development pepper says why', async () => {
    const db = tempDb()
    const { key } = await createTestKey(db.url, [], {})
    const copy = tempDb()
    copyFileSync(db.path, copy.path)
    const r = await runCli(['keys', 'verify', '--db', copy.url], { stdin: key, env: {} })
    expectOneLine(r)
    expect(r.stderr).toBe(
      `keyward: the database ${copy.path} was created with a pepper that is not here (no KEYWARD_PEPPER, no KEYWARD_PEPPER_FILE, no ${copy.path}.pepper), so no stored key could verify: copy the original ${copy.path}.pepper next to it or set KEYWARD_PEPPER to the original pepper\n`,
    )
    // with the pepper file copied too, it works
    copyFileSync(`${db.path}.pepper`, `${copy.path}.pepper`)
    expect((await runCli(['keys', 'verify', '--db', copy.url], { stdin: key, env: {} })).code).toBe(
      0,
    )
  })

  it('a different KEYWARD_PEPPER says why', async () => {
    const db = tempDb()
    const { key } = await createTestKey(db.url)
    const r = await runCli(['keys', 'verify', '--db', db.url], {
      stdin: key,
      env: { KEYWARD_PEPPER: 'another-pepper-0123456789abcdefghijklmnop' },
    })
    expectOneLine(r)
    expect(r.stderr).toBe(
      'keyward: the pepper v1 configured here is not the one this sqlite store was created with, so no stored key could verify: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE to the original pepper\n',
    )
  })

  it('KEYWARD_PEPPER and KEYWARD_PEPPER_FILE together, a shared pepper file, a short or weak pepper: exit 2', async () => {
    const db = tempDb()
    const file = join(db.dir, 'pepper')
    writeFileSync(file, `${TEST_PEPPER}\n`, { mode: 0o644 })
    const cases: [Record<string, string>, string][] = [
      [
        { KEYWARD_PEPPER: TEST_PEPPER, KEYWARD_PEPPER_FILE: file },
        'keyward: both KEYWARD_PEPPER and KEYWARD_PEPPER_FILE are set: set only one of them',
      ],
      [
        { KEYWARD_PEPPER_FILE: file },
        `keyward: KEYWARD_PEPPER_FILE ${file} is accessible by other users (mode 0644): restrict it with "chmod 600 ${file}" (Kubernetes: defaultMode 0400; Docker: mode 0400)`,
      ],
      [
        { KEYWARD_PEPPER: 'ab'.repeat(20) },
        'keyward: KEYWARD_PEPPER has too little entropy: only 2 different characters, and a pepper needs at least 8: use a random secret (e.g. openssl rand -base64 48)',
      ],
      [
        { KEYWARD_PEPPER: 'short' },
        'keyward: KEYWARD_PEPPER is 5 characters long: use at least 32 random characters (e.g. openssl rand -base64 48)',
      ],
    ]
    for (const [penv, message] of cases) {
      const r = await runCli(['keys', 'create', '--name', 'a', '--db', db.url], { env: penv })
      expectOneLine(r, 2)
      expect(r.stderr).toBe(`${message}\n`)
    }
    rmSync(file)
  })

  it('unknown errors print one line and point to KEYWARD_DEBUG', async () => {
    const { describeFailure } = await import('./run.js')
    expect(describeFailure(new TypeError('boom'), false)).toEqual({
      message: 'unexpected error: boom; set KEYWARD_DEBUG=1 for details',
      exitCode: 1,
    })
    expect(describeFailure(new TypeError('boom'), true).details).toContain('TypeError: boom')
  })
})
