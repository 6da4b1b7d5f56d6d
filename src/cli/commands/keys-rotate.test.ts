import { describe, expect, it } from 'vitest'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward keys rotate', () => {
  it('prints the new key once; the old one keeps working during the grace period', async () => {
    const db = tempDb()
    const { key: oldKey, id } = await createTestKey(db.url)
    const r = await runCli(['keys', 'rotate', id, '--grace', '1h', '--db', db.url], { env })
    expect(r.code).toBe(0)
    const newKey = /^ {4}(kw_live_\S+)$/m.exec(r.stdout)?.[1]
    expect(newKey).toBeDefined()
    expect(r.stdout.split('\n').filter((l) => l.includes(newKey!))).toHaveLength(1)
    expect(r.stdout).not.toContain(oldKey)
    expect(r.stdout).toContain('The previous secret keeps working for 1h')
    for (const k of [oldKey, newKey!]) {
      expect((await runCli(['keys', 'verify', '--db', db.url], { stdin: k, env })).code).toBe(0)
    }
  })

  it('--grace 0 stops the old secret at once', async () => {
    const db = tempDb()
    const { key: oldKey, id } = await createTestKey(db.url)
    const r = await runCli(['keys', 'rotate', id, '--grace', '0', '--json', '--db', db.url], {
      env,
    })
    expect(r.code).toBe(0)
    const { key: newKey } = JSON.parse(r.stdout)
    const old = await runCli(['keys', 'verify', '--db', db.url], { stdin: oldKey, env })
    expect(old).toEqual({ code: 1, stdout: `denied: key_expired, key ${id}\n`, stderr: '' })
    expect((await runCli(['keys', 'verify', '--db', db.url], { stdin: newKey, env })).code).toBe(0)
  })

  it('refuses a revoked key (exit 1), an unknown id (exit 1) and a bad --grace (exit 2)', async () => {
    const db = tempDb()
    const { id } = await createTestKey(db.url)
    await runCli(['keys', 'revoke', id, '--db', db.url], { env })
    const revoked = await runCli(['keys', 'rotate', id, '--db', db.url], { env })
    expect(revoked.code).toBe(1)
    expect(revoked.stderr).toBe(
      `keyward: key ${id} is revoked and cannot be rotated: create a new key instead\n`,
    )
    const unknown = await runCli(['keys', 'rotate', 'key_0000000000000000', '--db', db.url], {
      env,
    })
    expect(unknown.code).toBe(1)
    const bad = await runCli(['keys', 'rotate', id, '--grace', 'soon', '--db', db.url], { env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toBe(
      'keyward: --grace "soon" is not a duration: use a positive whole number and a unit (ms, s, m, h, d, w, y), e.g. "90d", "24h", "15m"\n',
    )
  })

  it('--finish ends the grace period now: the old secret stops, the new one works', async () => {
    const db = tempDb()
    const { key: oldKey, id } = await createTestKey(db.url)
    const r = await runCli(['keys', 'rotate', id, '--grace', '7d', '--json', '--db', db.url], { env })
    const { key: newKey } = JSON.parse(r.stdout)
    expect((await runCli(['keys', 'verify', '--db', db.url], { stdin: oldKey, env })).code).toBe(0)
    const finished = await runCli(['keys', 'rotate', id, '--finish', '--db', db.url], { env })
    expect(finished.code).toBe(0)
    expect(finished.stdout).toMatch(/1 old secret stopped working now/)
    const old = await runCli(['keys', 'verify', '--db', db.url], { stdin: oldKey, env })
    expect(old.stdout).toBe(`denied: key_expired, key ${id}\n`)
    expect((await runCli(['keys', 'verify', '--db', db.url], { stdin: newKey, env })).code).toBe(0)
    const again = await runCli(['keys', 'rotate', id, '--finish', '--db', db.url], { env })
    expect(again.stdout).toContain('nothing to finish')
    const bad = await runCli(['keys', 'rotate', id, '--finish', '--grace', '1h', '--db', db.url], { env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toBe('keyward: --finish ends the grace period now: it takes no --grace\n')
    const events = await runCli(['audit', '--type', 'key.rotation_finished', '--json', '--db', db.url], { env })
    expect(JSON.parse(events.stdout)).toHaveLength(1)
  })

  it('two rotations at once: each exits 0 or 1 (a conflict, saying so), one secret stays current', async () => {
    const db = tempDb()
    const { id } = await createTestKey(db.url)
    const results = await Promise.all(
      Array.from({ length: 4 }, () => runCli(['keys', 'rotate', id, '--db', db.url], { env })),
    )
    for (const r of results) {
      expect([0, 1]).toContain(r.code)
      if (r.code === 1)
        expect(r.stderr).toMatch(/^keyward: key key_\w+ was rotated by someone else at the same time: nothing was changed/)
    }
    const ok = results.filter((r) => r.code === 0).length
    const shown = JSON.parse((await runCli(['keys', 'show', id, '--json', '--db', db.url], { env })).stdout)
    expect(shown.secrets).toHaveLength(1 + ok)
    expect(shown.secrets.filter((s: { current: boolean }) => s.current)).toHaveLength(1)
  })

  it('a store conflict is a refusal: exit 1 with the message', async () => {
    const { describeFailure } = await import('../run.js')
    const { KeywardError } = await import('../../core/errors.js')
    expect(
      describeFailure(new KeywardError('store_conflict', 'key key_x was rotated by someone else'), false),
    ).toEqual({ message: 'key key_x was rotated by someone else', exitCode: 1 })
  })
})
