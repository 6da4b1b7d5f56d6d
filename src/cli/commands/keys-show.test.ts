import { describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward keys show', () => {
  it('shows one key with its secrets as hints', async () => {
    const db = tempDb()
    const { key, id } = await createTestKey(db.url, [
      '--owner',
      'svc:a',
      '--rate',
      '10/1s',
      '--metadata',
      '{"a":1}',
    ])
    const r = await runCli(['keys', 'show', id, '--db', db.url], { env })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^id {12}${id}$`, 'm'))
    expect(r.stdout).toMatch(/^owner {9}svc:a$/m)
    expect(r.stdout).toMatch(/^limits {8}default=10\/1s$/m)
    expect(r.stdout).toMatch(/^metadata {6}\{"a":1\}$/m)
    expect(r.stdout).toMatch(
      new RegExp(`^kw_live_${key.slice(8, 12)}…${key.slice(-4)} +current +\\S.* +no end +never$`, 'm'),
    )
    expect(r.stdout).not.toContain(key)
    const json = await runCli(['keys', 'show', id, '--json', '--db', db.url], { env })
    expect(JSON.parse(json.stdout)).toMatchObject({
      id,
      owner: 'svc:a',
      secrets: [{ pepperVersion: 1, imported: false, state: 'current', current: true, lastUsedAt: null }],
      pastPolicy: false,
    })
    expect(json.stdout).not.toContain(key)
  })

  it('exits 1 for an unknown id', async () => {
    const db = tempDb()
    await createTestKey(db.url)
    const r = await runCli(['keys', 'show', 'key_0000000000000000', '--db', db.url], { env })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'keyward: no key with id key_0000000000000000 in this database: see keyward keys list for the ids\n',
    )
  })

  it('exits 2 for something that is not an id, and never echoes a secret', async () => {
    const db = tempDb()
    const { key } = await createTestKey(db.url)
    const bad = await runCli(['keys', 'show', 'abc', '--db', db.url], { env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toBe(
      'keyward: "abc" is not a key id: ids look like key_ followed by 16 letters and digits (see keyward keys list)\n',
    )
    const secret = await runCli(['keys', 'show', key, '--db', db.url], { env })
    expect(secret.code).toBe(2)
    expect(secret.stderr).toBe(
      'keyward: that argument is a secret key, not a key id: secrets never go on the command line (they land in shell history); pass the key id (key_…, see keyward keys list) instead\n',
    )
    const missing = await runCli(['keys', 'show', '--db', db.url], { env })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toBe(
      "keyward: missing required argument 'id' (see keyward keys show --help)\n",
    )
  })

  it('lists every secret during a rotation, and flags a key past the expiry policy', async () => {
    const db = tempDb()
    const { id } = await createTestKey(db.url)
    await runCli(['keys', 'rotate', id, '--grace', '7d', '--db', db.url], { env })
    await runCli(['policy', 'set', '--max-age', '1ms', '--db', db.url], { env })
    const r = await runCli(['keys', 'show', id, '--db', db.url], { env })
    expect(r.code).toBe(0)
    const rows = r.stdout.split('\n').filter((l) => /^kw_live_/.test(l))
    expect(rows).toHaveLength(2)
    expect(rows[0]).toMatch(/ current +.* no end /)
    expect(rows[1]).toMatch(/ grace period +.* \(in 7d\) /)
    expect(r.stdout).toMatch(/^max age +1ms - PAST POLICY: rotate this key$/m)
    expect(r.stdout).toContain(`keyward keys rotate ${id} --finish`)
    const json = JSON.parse((await runCli(['keys', 'show', id, '--json', '--db', db.url], { env })).stdout)
    expect(json.secrets.map((s: { state: string }) => s.state)).toEqual(['current', 'grace'])
    expect(json).toMatchObject({ pastPolicy: true, policy: { maxAge: '1ms', pastPolicy: true } })
  })
})
