import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward keys list', () => {
  it('prints a table with id, name, owner, status, scopes, hint, dates and last use', async () => {
    const db = tempDb()
    const a = await createTestKey(db.url, [
      '--owner',
      'svc:a',
      '--scope',
      'orders:read',
      '--expires',
      '30d',
    ])
    const b = await createTestKey(db.url, ['--owner', 'svc:b'])
    await runCli(['keys', 'revoke', b.id, '--db', db.url], { env })
    await runCli(['keys', 'verify', '--db', db.url], { stdin: a.key, env })
    const r = await runCli(['keys', 'list', '--db', db.url], { env })
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID +NAME +OWNER +STATUS +SCOPES +HINT +CREATED +EXPIRES +LAST USED$/)
    expect(lines).toHaveLength(3)
    // newest first
    expect(lines[1]).toMatch(
      new RegExp(`^${b.id} +test +svc:b +revoked +- +kw_live_\\S+ +\\S+ \\S+ +never +never$`),
    )
    expect(lines[2]).toMatch(
      new RegExp(
        `^${a.id} +test +svc:a +active +orders:read +kw_live_\\S+ .+Z +\\d{4}-.+Z +\\d{4}-.+Z$`,
      ),
    )
    expect(r.stdout).not.toContain(a.key)
    expect(r.stdout).not.toContain(b.key)
  })

  it('filters by --owner and --status, and prints JSON', async () => {
    const db = tempDb()
    const a = await createTestKey(db.url, ['--owner', 'svc:a'])
    const b = await createTestKey(db.url, ['--owner', 'svc:b'])
    await runCli(['keys', 'revoke', b.id, '--db', db.url], { env })
    const byOwner = await runCli(['keys', 'list', '--owner', 'svc:a', '--json', '--db', db.url], {
      env,
    })
    expect(JSON.parse(byOwner.stdout).map((k: { id: string }) => k.id)).toEqual([a.id])
    const revoked = await runCli(
      ['keys', 'list', '--status', 'revoked', '--json', '--db', db.url],
      { env },
    )
    expect(JSON.parse(revoked.stdout)).toMatchObject([
      { id: b.id, status: 'revoked', owner: 'svc:b' },
    ])
  })

  it('filters by --prefix, --scope and --expiring, and combines them', async () => {
    const db = tempDb()
    const soon = await createTestKey(db.url, ['--scope', 'orders:read', '--expires', '3d'])
    const later = await createTestKey(db.url, ['--scope', 'orders:read', '--expires', '30d'])
    const test = await createTestKey(db.url, ['--prefix', 'kw_test', '--scope', 'orders:*'])
    const revokedSoon = await createTestKey(db.url, ['--expires', '2d'])
    await runCli(['keys', 'revoke', revokedSoon.id, '--db', db.url], { env })
    const ids = async (...args: string[]) => {
      const r = await runCli(['keys', 'list', ...args, '--json', '--db', db.url], { env })
      expect(r.stderr).toBe('')
      // keys made in the same millisecond may list in either order
      return (JSON.parse(r.stdout) as { id: string }[]).map((k) => k.id).sort()
    }
    await expect(ids('--prefix', 'kw_test')).resolves.toEqual([test.id])
    // exact: orders:* does not hold orders:read for this filter
    await expect(ids('--scope', 'orders:read')).resolves.toEqual([later.id, soon.id].sort())
    await expect(ids('--expiring', '7d')).resolves.toEqual([revokedSoon.id, soon.id].sort())
    await expect(ids('--expiring', '7d', '--status', 'active')).resolves.toEqual([soon.id])
    await expect(ids('--expiring', '60d', '--scope', 'orders:read')).resolves.toEqual(
      [later.id, soon.id].sort(),
    )
    const none = await runCli(['keys', 'list', '--prefix', 'acme', '--db', db.url], { env })
    expect(none).toEqual({ code: 0, stdout: 'No keys match these filters.\n', stderr: '' })
  })

  it('refuses a bad --prefix, --scope or --expiring with exit 2, naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--prefix', 'KW'], /^keyward: --prefix "KW" is not valid/],
      [['--scope', 'orders::read'], /^keyward: scope "orders::read" is not valid/],
      [['--expiring', 'soon'], /^keyward: --expiring/],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(['keys', 'list', ...args], { env })
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(message)
    }
  })

  it('says how to create a key when there is none', async () => {
    const db = tempDb()
    await runCli(['migrate', '--db', db.url], { env })
    const r = await runCli(['keys', 'list', '--db', db.url], { env })
    expect(r).toEqual({
      code: 0,
      stdout: 'No keys. Create one with: keyward keys create --name NAME\n',
      stderr: '',
    })
  })

  it('refuses a bad --status with exit 2', async () => {
    const r = await runCli(['keys', 'list', '--status', 'gone'], { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'keyward: --status "gone" is not valid: use active, revoked, expired or disabled\n',
    )
  })

  it('does not create a missing database file', async () => {
    const db = tempDb()
    const r = await runCli(['keys', 'list', '--db', db.url], { env: {} })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`there is no keyward database at ${db.path}`)
    expect(existsSync(db.path)).toBe(false)
    expect(existsSync(`${db.path}.pepper`)).toBe(false)
  })
})
