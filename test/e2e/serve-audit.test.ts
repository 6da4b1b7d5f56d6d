// `keyward serve --audit-retention 1d` (the built CLI): audit events older than a day are
// pruned at start-up, newer ones stay, and `keyward audit verify` still passes afterwards.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { beforeAll, expect, it } from 'vitest'
import { runCli } from '../../src/cli/testing.js'
import { createSqliteStore } from '../../src/stores/sqlite/index.js'
import { requireBuild, SERVE_PEPPER, spawnServe, stopServe, tempDir } from '../fixtures/serve-process.js'

beforeAll(requireBuild)

it('prunes events past the retention at start-up; the chain still verifies', async () => {
  const dir = tempDir()
  const file = join(dir, 'keyward.db')
  const store = createSqliteStore({ db: new Database(file) })
  await store.migrate()
  const old = Date.now() - 3 * 86_400_000
  await store.appendAudit(
    Array.from({ length: 30 }, (_, i) => ({
      id: `evt_old${String(i).padStart(13, '0')}`,
      at: old + i,
      action: 'key.created',
      keyId: null,
      actor: 'cli:test',
      details: {},
    })),
  )
  await store.appendAudit([
    { id: 'evt_recent0000000001', at: Date.now(), action: 'role.set', keyId: null, actor: 'cli:test', details: {} },
  ])
  await store.close()

  const db = `sqlite:${file}`
  const child = spawnServe(['--port', '0', '--db', db, '--audit-retention', '1d'], { cwd: dir })
  await child.listening()
  const env = { KEYWARD_PEPPER: SERVE_PEPPER }
  const types = async () => {
    const r = await runCli(['audit', '--json', '--db', db], { env })
    return (JSON.parse(r.stdout) as { type: string }[]).map((e) => e.type)
  }
  // the bootstrap admin key's creation is new too: it stays
  await expect.poll(types, { timeout: 10_000, interval: 200 }).toEqual(['key.created', 'role.set'])
  expect(await stopServe(child)).toBe(0)
  const verified = await runCli(['audit', 'verify', '--db', db], { env })
  expect(verified.code, verified.stdout).toBe(0)
  expect(verified.stdout).toContain('2 events checked, seq 31-32.')
  expect(verified.stdout).toContain('Events up to seq 30 were pruned')
  expect(child.logs()).toContainEqual(
    expect.objectContaining({ msg: 'pruned old audit events', deleted: 30 }),
  )
})
