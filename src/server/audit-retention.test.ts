// --audit-retention: the setting, and the background pruning that keeps the chain verifiable.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../core/keyward.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { startAuditPruning } from './audit-retention.js'
import { resolveSettings } from './settings.js'

const DAY = 86_400_000
const peppers = [{ version: 1, secret: 'audit-retention-test-pepper-0123456789abc' }]
const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})

describe('--audit-retention', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'keyward-retention-'))
  const resolve = (flags: Record<string, unknown>, env: Record<string, string> = {}) =>
    resolveSettings({ flags, env, cwd })

  it('keeps everything by default, takes days or more, and "none"', () => {
    expect(resolve({}).auditRetention).toBeNull()
    expect(resolve({ auditRetention: '90d' }).auditRetention).toBe(90 * DAY)
    expect(resolve({}, { KEYWARD_AUDIT_RETENTION: '1y' }).auditRetention).toBe(365 * DAY)
    expect(resolve({ auditRetention: 'none' }).auditRetention).toBeNull()
    for (const bad of ['12h', 'forever', '0d'])
      expect(() => resolve({ auditRetention: bad })).toThrow(
        `auditRetention "${bad}" from --audit-retention is not valid: use a duration of at least 1d, e.g. "90d", "12w", "1y", or "none" to keep everything`,
      )
  })
})

describe('startAuditPruning', () => {
  it('deletes events past the retention in batches, and the chain still verifies', async () => {
    let now = Date.UTC(2026, 0, 1)
    const keyward = await createKeyward({
      store: createMemoryStore(),
      peppers,
      cache: false,
      clock: { now: () => now },
    })
    opened.push(keyward)
    for (let i = 0; i < 25; i++) await keyward.createKey({ name: `old-${i}` })
    now += 100 * DAY
    const recent = await keyward.createKey({ name: 'recent' })
    const pruned: number[] = []
    const pruning = startAuditPruning({
      audit: keyward.audit,
      retentionMs: 90 * DAY,
      intervalMs: 3_600_000,
      batchSize: 10,
      onPruned: (n) => pruned.push(n),
      onError: (e) => {
        throw e
      },
    })
    await expect.poll(() => pruned).toEqual([25])
    await expect(pruning.runOnce()).resolves.toBe(0)
    await pruning.stop()
    const left = await keyward.audit.page()
    expect(left.items.map((e) => e.keyId)).toEqual([recent.record.id])
    await expect(keyward.audit.verify()).resolves.toMatchObject({
      ok: true,
      checked: 1,
      anchor: { seq: 25 },
    })
  })

  it('reports a failed pass and keeps running', async () => {
    const errors: unknown[] = []
    let calls = 0
    const pruning = startAuditPruning({
      audit: {
        prune: async () => {
          calls++
          throw new Error('store down')
        },
      },
      retentionMs: DAY,
      onError: (e) => errors.push(e),
    })
    await expect.poll(() => errors.length).toBe(1)
    await expect(pruning.runOnce()).resolves.toBe(0)
    expect(calls).toBe(2)
    await pruning.stop()
  })
})
