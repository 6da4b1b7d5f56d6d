import { describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward policy', () => {
  it('sets, shows and removes the maximum key age; keys list flags keys past it', async () => {
    const db = tempDb()
    const { id } = await createTestKey(db.url, ['--owner', 'svc:a'])
    const other = await createTestKey(db.url, ['--owner', 'svc:b'])
    const set = await runCli(['policy', 'set', '--max-age', '90d', '--db', db.url], { env })
    expect(set.code).toBe(0)
    expect(set.stdout).toContain('Keys are past the policy once their current secret is 90d old')
    await runCli(['policy', 'set', '--max-age', '1ms', '--owner', 'svc:a', '--db', db.url], { env })
    const show = await runCli(['policy', 'show', '--json', '--db', db.url], { env })
    expect(JSON.parse(show.stdout)).toEqual({ maxAge: '90d', owners: { 'svc:a': '1ms' } })
    const list = await runCli(['keys', 'list', '--json', '--db', db.url], { env })
    const flags = Object.fromEntries(
      JSON.parse(list.stdout).map((k: { id: string; pastPolicy: boolean }) => [k.id, k.pastPolicy]),
    )
    expect(flags).toEqual({ [id]: true, [other.id]: false })
    const table = await runCli(['keys', 'list', '--db', db.url], { env })
    expect(table.stdout.split('\n').find((l) => l.startsWith(id))).toContain('active (past policy)')
    await runCli(['policy', 'set', '--max-age', 'none', '--owner', 'svc:a', '--db', db.url], { env })
    const after = await runCli(['policy', 'show', '--db', db.url], { env })
    expect(after.stdout).toMatch(/^\(global\) +90d$/m)
    expect(after.stdout).not.toContain('svc:a')
    const events = await runCli(['audit', '--type', 'policy.changed', '--json', '--db', db.url], {
      env,
    })
    expect(JSON.parse(events.stdout)).toHaveLength(3)
  })

  it('refuses a missing or bad --max-age (exit 2)', async () => {
    const missing = await runCli(['policy', 'set'], { env })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toBe(
      'keyward: policy set needs --max-age, e.g. --max-age 90d (or none to remove it)\n',
    )
    const bad = await runCli(['policy', 'set', '--max-age', 'soon'], { env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--max-age "soon" is not a duration')
  })
})
