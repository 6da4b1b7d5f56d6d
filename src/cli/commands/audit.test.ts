import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { CLI_ACTOR } from '../context.js'
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
    expect(lines[0]).toMatch(/^TIME +TYPE +KEY +ACTOR +IP +COUNT +DETAILS$/)
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
      { type: 'key.created', keyId: b.id, actor: CLI_ACTOR, ip: null, count: 1 },
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

  it('filters by actor, type and time', async () => {
    const db = tempDb()
    const a = await createTestKey(db.url)
    await runCli(['keys', 'rotate', a.id, '--db', db.url], { env })
    const json = async (args: string[]) =>
      JSON.parse((await runCli(['audit', ...args, '--json', '--db', db.url], { env })).stdout)
    expect((await json(['--type', 'key.rotated'])).map((e: { keyId: string }) => e.keyId)).toEqual([
      a.id,
    ])
    expect(await json(['--actor', 'cli:nobody'])).toEqual([])
    expect(await json(['--actor', CLI_ACTOR])).toHaveLength(2)
    expect(await json(['--until', '2000-01-01T00:00:00Z'])).toEqual([])
    expect(await json(['--since', '2000-01-01T00:00:00Z'])).toHaveLength(2)
    expect(await json(['--until', '1h'])).toEqual([])
    expect(CLI_ACTOR).toMatch(/^cli(:.+)?$/)
  })

  it('verify: exit 0 with a count when intact, exit 1 naming the first tampered event', async () => {
    const db = tempDb()
    await runCli(['migrate', '--db', db.url], { env })
    const empty = await runCli(['audit', 'verify', '--db', db.url], { env })
    expect(empty.stdout).toBe(
      `The audit trail is intact: there are no events to check.\nHead: seq 0, hash ${'0'.repeat(64)}\n`,
    )
    for (let i = 0; i < 3; i++) await createTestKey(db.url)
    const ok = await runCli(['audit', 'verify', '--db', db.url], { env })
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/^The audit trail is intact: 3 events checked, seq 1-3\.$/m)
    const sqlite = new Database(db.path)
    sqlite.prepare("UPDATE keyward_audit SET details = '{}' WHERE seq = 2").run()
    sqlite.close()
    const bad = await runCli(['audit', 'verify', '--db', db.url], { env })
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(
      /^The audit trail was tampered with: event seq 2 \(evt_\w+\) was edited: its content no longer matches its hash\.$/m,
    )
    const json = await runCli(['audit', 'verify', '--json', '--db', db.url], { env })
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, checked: 1, break: { kind: 'edited', seq: 2 } })
  })
})
