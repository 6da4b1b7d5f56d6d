import { describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward keys revoke', () => {
  it('revokes: the key stops verifying; revoking again is not an error', async () => {
    const db = tempDb()
    const { key, id } = await createTestKey(db.url)
    const r = await runCli(['keys', 'revoke', id, '--db', db.url], { env })
    expect(r).toEqual({
      code: 0,
      stdout: `Revoked key ${id} (test). It no longer verifies.\n`,
      stderr: '',
    })
    const v = await runCli(['keys', 'verify', '--db', db.url], { stdin: key, env })
    expect(v).toEqual({ code: 1, stdout: `denied: key_revoked, key ${id}\n`, stderr: '' })
    const again = await runCli(['keys', 'revoke', id, '--db', db.url], { env })
    expect(again).toEqual({
      code: 0,
      stdout: `Key ${id} (test) was already revoked.\n`,
      stderr: '',
    })
  })

  it('exits 1 for an unknown id', async () => {
    const db = tempDb()
    await createTestKey(db.url)
    const r = await runCli(['keys', 'revoke', 'key_0000000000000000', '--db', db.url], { env })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'keyward: no key with id key_0000000000000000 in this database: see keyward keys list for the ids\n',
    )
  })
})
