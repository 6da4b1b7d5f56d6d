import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { describeWithService, uniqueName } from '../../test/helpers/services.js'
import { runCli, TEST_PEPPER } from './testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describeWithService('postgres', 'the CLI on PostgreSQL', (baseUrl) => {
  const schemas: string[] = []
  const urlFor = (schema: string): string => {
    schemas.push(schema)
    const url = new URL(baseUrl)
    url.searchParams.set('schema', schema)
    return url.toString()
  }
  afterAll(async () => {
    const pool = new pg.Pool({ connectionString: baseUrl })
    for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
    await pool.end()
  })

  it('says to run keyward migrate on a database without keyward tables', async () => {
    const url = urlFor(uniqueName('kw_cli'))
    const r = await runCli(['keys', 'list', '--db', url], { env })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /^keyward: PostgreSQL at postgres:\/\/.+ \(schema kw_cli_\w+\) has no keyward tables yet: run "keyward migrate --db URL" once \(with the same URL\) to create them\n$/,
    )
  })

  it('migrates, then creates, verifies, revokes and lists keys', async () => {
    const url = urlFor(uniqueName('kw_cli'))
    const m = await runCli(['migrate', '--db', url], { env: {} })
    expect(m.code).toBe(0)
    expect(m.stdout).toMatch(
      /^Migrated PostgreSQL postgres:\/\/.+ \(schema kw_cli_\w+\): the schema is up to date\.\n$/,
    )
    const c = await runCli(
      ['keys', 'create', '--name', 'pg', '--scope', 'orders:read', '--json', '--db', url],
      { env },
    )
    expect(c.code).toBe(0)
    const { key, id } = JSON.parse(c.stdout)
    const v = await runCli(['keys', 'verify', '--scope', 'orders:read', '--db', url], {
      stdin: `${key}\n`,
      env,
    })
    expect(v.stdout).toBe(`valid: key ${id} (pg), owner -, scopes orders:read\n`)
    expect((await runCli(['keys', 'revoke', id, '--db', url], { env })).code).toBe(0)
    const again = await runCli(['keys', 'verify', '--db', url], { stdin: key, env })
    expect(again).toEqual({ code: 1, stdout: `denied: key_revoked, key ${id}\n`, stderr: '' })
    const list = await runCli(['keys', 'list', '--json', '--db', url], { env })
    expect(JSON.parse(list.stdout)).toMatchObject([{ id, status: 'revoked' }])
  })

  it('refuses a wrong pepper with one line', async () => {
    const url = urlFor(uniqueName('kw_cli'))
    await runCli(['migrate', '--db', url], { env: {} })
    await runCli(['keys', 'create', '--name', 'a', '--db', url], { env })
    const r = await runCli(['keys', 'list', '--db', url], {
      env: { KEYWARD_PEPPER: 'a-different-pepper-0123456789abcdefghijkl' },
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'keyward: the pepper v1 configured here is not the one this postgres store was created with, so no stored key could verify: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE to the original pepper\n',
    )
  })
})

describe('a PostgreSQL URL', () => {
  it('refuses a bad schema name with exit 2', async () => {
    const r = await runCli(['keys', 'list', '--db', 'postgres://u@h/db?schema=a-b'], { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'keyward: schema "a-b" in the database URL is not valid: use letters, digits and "_", starting with a letter or "_"\n',
    )
  })
})
