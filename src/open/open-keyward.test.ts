import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { KeywardError } from '../core/errors.js'
import { openKeyward } from './open-keyward.js'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'keyward-open-'))

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

  it('resolves a relative sqlite: path against cwd, not the directory the process runs in', async () => {
    const dir = tmp()
    const opened = await openKeyward({
      databaseUrl: 'sqlite:./k.db',
      cwd: dir,
      env: {},
      warn: () => {},
    })
    try {
      expect(opened.target).toEqual({ kind: 'sqlite', path: join(dir, 'k.db'), display: './k.db' })
      expect(existsSync(join(dir, 'k.db'))).toBe(true)
      expect(existsSync(join(dir, 'k.db.pepper'))).toBe(true)
    } finally {
      await opened.close()
    }
  })

  it('refuses a weak development pepper file, and a weak KEYWARD_PEPPER before creating the database', async () => {
    const dir = tmp()
    const file = join(dir, 'k.db.pepper')
    writeFileSync(file, `${'ab'.repeat(32)}\n`, { mode: 0o600 })
    await expect(
      openKeyward({ databaseUrl: `sqlite:${join(dir, 'k.db')}`, env: {}, warn: () => {} }),
    ).rejects.toThrow(
      `pepper file ${file} has too little entropy: only 2 different characters, and a pepper needs at least 8: use a random secret (e.g. openssl rand -base64 48)`,
    )
    const other = join(dir, 'other.db')
    await expect(
      openKeyward({ databaseUrl: `sqlite:${other}`, env: { KEYWARD_PEPPER: 'x'.repeat(40) } }),
    ).rejects.toThrow('KEYWARD_PEPPER has too little entropy: only 1 different character')
    expect(existsSync(other)).toBe(false)
  })
})
