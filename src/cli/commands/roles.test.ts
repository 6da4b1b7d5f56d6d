import { describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward roles', () => {
  it('sets, lists and deletes roles; keys created with --role get their scopes', async () => {
    const db = tempDb()
    const set = await runCli(
      ['roles', 'set', 'reader', '--scope', 'orders:read', '--scope', 'users:read', '--db', db.url],
      { env },
    )
    expect(set).toEqual({
      code: 0,
      stdout: 'Role reader grants orders:read, users:read.\n',
      stderr: '',
    })
    const list = await runCli(['roles', 'list', '--db', db.url], { env })
    expect(list.stdout).toBe('ROLE    SCOPES\nreader  orders:read,users:read\n')
    const { key } = await createTestKey(db.url, ['--role', 'reader'])
    const v = await runCli(['keys', 'verify', '--scope', 'users:read', '--db', db.url], {
      stdin: key,
      env,
    })
    expect(v.code).toBe(0)
    const del = await runCli(['roles', 'delete', 'reader', '--db', db.url], { env })
    expect(del).toEqual({ code: 0, stdout: 'Deleted role reader.\n', stderr: '' })
    const after = await runCli(['keys', 'verify', '--scope', 'users:read', '--db', db.url], {
      stdin: key,
      env,
    })
    expect(after.code).toBe(1)
    const again = await runCli(['roles', 'delete', 'reader', '--db', db.url], { env })
    expect(again).toEqual({
      code: 1,
      stdout: '',
      stderr: 'keyward: no role named reader: see keyward roles list\n',
    })
  })

  it('refuses bad usage with exit 2', async () => {
    const db = tempDb()
    const noScope = await runCli(['roles', 'set', 'reader', '--db', db.url], { env })
    expect(noScope.stderr).toBe(
      'keyward: role "reader" needs at least one --scope, e.g. --scope orders:read\n',
    )
    expect(noScope.code).toBe(2)
    const badScope = await runCli(
      ['roles', 'set', 'reader', '--scope', 'orders::read', '--db', db.url],
      { env },
    )
    expect(badScope.code).toBe(2)
    const badName = await runCli(['roles', 'set', 'Reader', '--scope', 'a:b', '--db', db.url], {
      env,
    })
    expect(badName.code).toBe(2)
    expect(badName.stderr).toBe(
      'keyward: role "Reader" is not valid: use lowercase letters, digits, "_", "." or "-", starting with a letter\n',
    )
  })
})
