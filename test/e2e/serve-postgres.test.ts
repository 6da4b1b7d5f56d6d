// `keyward serve` on PostgreSQL: it says to migrate first, then starts, bootstraps once per
// database (the meta record lives in PostgreSQL), and keeps its keys across restarts.
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runCli } from '../../src/cli/testing.js'
import {
  bootstrapKey,
  requireBuild,
  SERVE_PEPPER,
  spawnServe,
  stopServe,
  tempDir,
} from '../fixtures/serve-process.js'
import { describeWithService, uniqueName } from '../helpers/services.js'

beforeAll(requireBuild)

describeWithService('postgres', 'keyward serve on PostgreSQL', (baseUrl) => {
  const schema = uniqueName('kw_serve')
  const url = new URL(baseUrl)
  url.searchParams.set('schema', schema)
  const db = url.toString()
  afterAll(async () => {
    const pool = new pg.Pool({ connectionString: baseUrl })
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await pool.end()
  })

  it('asks for keyward migrate, then serves and bootstraps once', async () => {
    const before = spawnServe(['--port', '0', '--db', db], { cwd: tempDir() })
    expect(await before.exited).toBe(1)
    expect(before.stderr()).toMatch(/has no keyward tables yet: run "keyward migrate --db URL"/)

    const migrated = await runCli(['migrate', '--db', db], {
      env: { KEYWARD_PEPPER: SERVE_PEPPER },
    })
    expect(migrated.code).toBe(0)

    const first = spawnServe(['--port', '0', '--db', db], { cwd: tempDir() })
    const base = await first.listening()
    expect(first.stderr()).toContain(`(keys in postgres postgres://`)
    const admin = bootstrapKey(first.stderr())!
    expect(await fetch(`${base}/readyz`).then((r) => r.status)).toBe(200)
    expect(await stopServe(first)).toBe(0)

    const second = spawnServe(['--port', '0', '--db', db], { cwd: tempDir() })
    const again = await second.listening()
    expect(bootstrapKey(second.stderr())).toBeUndefined()
    const list = await fetch(`${again}/v1/keys`, { headers: { 'x-api-key': admin } })
    expect(list.status).toBe(200)
    expect(await stopServe(second)).toBe(0)
  })
})
