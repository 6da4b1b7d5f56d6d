import { describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward audit', () => {
  it('lists events newest first, filters by key, never shows a secret', async () => {
    const db = tempDb()
    const a = await createTestKey(db.url)
    const b = await createTestKey(db.url)
    await runCli(['keys', 'revoke', a.id, '--db', db.url], { env })
    const r = await runCli(['audit', '--db', db.url], { env })
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^TIME +ACTION +KEY +ACTOR +DETAILS$/)
    expect(lines.slice(1).map((l) => l.split(/ {2,}/)[1])).toEqual([
      'key.revoked',
      'key.created',
      'key.created',
    ])
    const onlyB = await runCli(
      ['audit', '--key', b.id, '--since', '1h', '--json', '--db', db.url],
      { env },
    )
    expect(JSON.parse(onlyB.stdout)).toMatchObject([
      { action: 'key.created', keyId: b.id, actor: 'cli' },
    ])
    for (const k of [a.key, b.key]) expect(r.stdout + onlyB.stdout).not.toContain(k)
  })

  it('refuses a bad --since (exit 2)', async () => {
    const r = await runCli(['audit', '--since', 'yesterday'], { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'keyward: --since "yesterday" is not a duration: use a positive whole number and a unit (ms, s, m, h, d, w, y), e.g. "90d", "24h", "15m"\n',
    )
  })
})
