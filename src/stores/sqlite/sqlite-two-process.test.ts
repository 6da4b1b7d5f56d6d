import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { spawnTsx } from '../../../test/fixtures/spawn-tsx.js'
import { createSqliteStore } from './sqlite-store.js'

interface Report {
  created: string[]
  revoked: string[]
  errors: string[]
}

describe('two processes on one SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-two-process-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('create and revoke keys at the same time, losing nothing and never seeing SQLITE_BUSY', async () => {
    const file = join(dir, 'shared.db')
    const count = 300
    // both start on a file that does not exist yet, so they also race on creating and migrating it
    const children = ['svc:a', 'svc:b'].map((owner) =>
      spawnTsx('./sqlite-writer.ts', [file, String(count), owner]),
    )
    await Promise.all(children.map((c) => c.line((l) => l === 'ready')))
    for (const c of children) c.process.stdin.end('go\n')
    const reports = await Promise.all(
      children.map(async (c) => {
        const line = await c.line((l) => l.startsWith('{'))
        expect(await c.exited, c.stderr()).toBe(0)
        return JSON.parse(line) as Report
      }),
    )

    for (const r of reports) {
      expect(r.errors).toEqual([])
      expect(r.created).toHaveLength(count)
      expect(r.revoked).toHaveLength(count / 2)
    }
    const store = createSqliteStore({ db: new Database(file) })
    const all = new Map<string, { state: string; ownerId: string | null }>()
    let cursor: string | undefined
    do {
      const page = await store.listKeys({
        now: Date.now(),
        limit: 200,
        ...(cursor ? { cursor } : {}),
      })
      for (const k of page.items) all.set(k.id, k)
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    expect(all.size).toBe(2 * count)
    for (const [i, r] of reports.entries()) {
      const owner = i === 0 ? 'svc:a' : 'svc:b'
      const revoked = new Set(r.revoked)
      for (const id of r.created) {
        expect(all.get(id)?.ownerId).toBe(owner)
        expect(all.get(id)?.state).toBe(revoked.has(id) ? 'revoked' : 'active')
      }
    }
    // every create and every revoke left its audit event
    const audit = await store.listAudit({ limit: 10_000 })
    expect(audit.filter((e) => e.action === 'key.created')).toHaveLength(2 * count)
    expect(audit.filter((e) => e.action === 'key.revoked')).toHaveLength(count)
    await store.close()
  })
})
