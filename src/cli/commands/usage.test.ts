import { describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward usage', () => {
  it("prints a key's verifications per step and outcome, as a table or JSON, never a secret", async () => {
    const db = tempDb()
    const a = await createTestKey(db.url, ['--scope', 'orders:read'])
    const verify = (scope: string) =>
      runCli(['keys', 'verify', '--scope', scope, '--db', db.url], { env, stdin: `${a.key}\n` })
    expect((await verify('orders:read')).code).toBe(0)
    expect((await verify('orders:read')).code).toBe(0)
    expect((await verify('orders:write')).code).toBe(1)
    const table = await runCli(['usage', a.id, '--db', db.url], { env })
    expect(table.code).toBe(0)
    const lines = table.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^TIME +VALID +INSUFFICIENT_SCOPE$/)
    expect(lines[1]).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:00Z +2 +1$/)
    expect(lines[2]).toMatch(/^total +2 +1$/)
    const json = await runCli(
      ['usage', a.id, '--since', '1h', '--step', '1m', '--json', '--db', db.url],
      {
        env,
      },
    )
    const report = JSON.parse(json.stdout)
    expect(report).toMatchObject({
      keyId: a.id,
      step: '1m',
      totals: { valid: 2, insufficient_scope: 1 },
      routes: [{ tag: '', total: 3 }],
    })
    expect(report.series).toHaveLength(1)
    expect(table.stdout + json.stdout).not.toContain(a.key)
  })

  it('says when nothing was recorded, and refuses bad flags (exit 2) and unknown keys (exit 1)', async () => {
    const db = tempDb()
    const a = await createTestKey(db.url)
    const empty = await runCli(['usage', a.id, '--db', db.url], { env })
    expect(empty.stdout).toMatch(new RegExp(`^No usage of ${a.id} since `))
    const step = await runCli(['usage', a.id, '--step', '5m', '--db', db.url], { env })
    expect(step.code).toBe(2)
    expect(step.stderr).toBe('keyward: --step "5m" is not supported: use 1m, 1h or 1d\n')
    const since = await runCli(['usage', a.id, '--since', 'last week', '--db', db.url], { env })
    expect(since.code).toBe(2)
    expect(since.stderr).toContain('--since "last week" is neither a duration nor a time')
    const missing = await runCli(['usage', 'key_0000000000000000', '--db', db.url], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('no key with id key_0000000000000000')
  })
})
