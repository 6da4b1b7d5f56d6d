import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runCli, tempDb } from '../testing.js'

describe('keyward migrate', () => {
  it('creates an SQLite database, and is idempotent; it needs no pepper', async () => {
    const db = tempDb()
    const r = await runCli(['migrate', '--db', db.url], { env: {} })
    expect(r).toEqual({
      code: 0,
      stdout: `Created SQLite database ${db.path}: the schema is up to date.\n`,
      stderr: '',
    })
    expect(existsSync(`${db.path}.pepper`)).toBe(false)
    const again = await runCli(['migrate', '--db', db.url], { env: {} })
    expect(again.stdout).toBe(`Migrated SQLite database ${db.path}: the schema is up to date.\n`)
  })
})
