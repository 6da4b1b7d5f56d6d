// Faults of `keyward serve`, on the real process: kill -9 during key creation, malformed
// configuration, a port in use, Redis absent (and present) when configured.
import { createServer } from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/testing.js'
import { createKeyward } from '../../src/core/keyward.js'
import { openSqliteStore } from '../../src/stores/sqlite/index.js'
import { describeWithService, uniqueName } from '../helpers/services.js'
import {
  bootstrapKey,
  requireBuild,
  SERVE_PEPPER,
  spawnServe,
  stopServe,
  tempDir,
} from '../fixtures/serve-process.js'

beforeAll(requireBuild)

const cliEnv = { KEYWARD_PEPPER: SERVE_PEPPER }

describe('kill -9 during key creation', () => {
  it('leaves every key whole, and every key whose 201 arrived in the store', async () => {
    const dir = tempDir()
    const file = join(dir, 'keyward.db')
    const child = spawnServe(['--port', '0', '--db', `sqlite:${file}`], { cwd: dir })
    const base = await child.listening()
    const admin = bootstrapKey(child.stderr())!
    const answered = new Map<string, string>() // id -> secret
    let stop = false
    const killed = new Promise<void>((resolve) => {
      const worker = async () => {
        for (let i = 0; !stop; i++) {
          try {
            const r = await fetch(`${base}/v1/keys`, {
              method: 'POST',
              headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
              body: JSON.stringify({ name: `k${i}`, scopes: ['orders:read'] }),
            })
            if (r.status !== 201) throw new Error(`status ${r.status}`)
            const body = (await r.json()) as { id: string; key: string }
            answered.set(body.id, body.key)
          } catch {
            // the process died under this request: its key may or may not exist
            return
          }
          if (answered.size >= 40 && !stop) {
            stop = true
            child.process.kill('SIGKILL')
            resolve()
          }
        }
      }
      for (let w = 0; w < 8; w++) void worker()
    })
    await killed
    expect(await child.exited).toBe('SIGKILL')

    const db = new Database(file, { readonly: true })
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
      const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n
      const keys = count('SELECT COUNT(*) AS n FROM keyward_keys')
      expect(keys).toBeGreaterThanOrEqual(answered.size + 1)
      // no key without its secret or its lookup row, no secret without its key
      expect(
        count(
          'SELECT COUNT(*) AS n FROM keyward_keys k WHERE NOT EXISTS (SELECT 1 FROM keyward_secrets s WHERE s.key_id = k.id)',
        ),
      ).toBe(0)
      expect(
        count(
          'SELECT COUNT(*) AS n FROM keyward_keys k WHERE NOT EXISTS (SELECT 1 FROM keyward_lookup l WHERE l.key_id = k.id)',
        ),
      ).toBe(0)
      expect(
        count(
          'SELECT COUNT(*) AS n FROM keyward_secrets s WHERE NOT EXISTS (SELECT 1 FROM keyward_keys k WHERE k.id = s.key_id)',
        ),
      ).toBe(0)
    } finally {
      db.close()
    }
    // every key whose 201 arrived verifies
    const store = openSqliteStore(file)
    const keyward = await createKeyward({ store, peppers: [{ version: 1, secret: SERVE_PEPPER }] })
    try {
      for (const [id, secret] of answered) {
        const result = await keyward.verify(secret, { scopes: ['orders:read'] })
        expect(result.ok && result.key.id).toBe(id)
      }
    } finally {
      await keyward.close()
      await store.close()
    }
  })
})

describe('malformed configuration, on the real process', () => {
  it.each([
    { from: 'a flag', args: ['--port', 'x'], env: {}, line: 'port "x" from --port is not valid' },
    { from: 'the environment', args: [], env: { PORT: '-1' }, line: 'port "-1" from PORT' },
    {
      from: 'the config file',
      args: ['--config', 'keyward.json'],
      env: {},
      file: '{"port": 8080, "tls": true}',
      line: 'unknown setting "tls" in config file keyward.json: use one of port, host,',
    },
  ])('a mistake in $from is one line and exit code 2', async ({ args, env, line, ...rest }) => {
    const dir = tempDir()
    if ('file' in rest) {
      const { writeFileSync } = await import('node:fs')
      writeFileSync(join(dir, 'keyward.json'), rest.file as string)
    }
    const child = spawnServe(args, { cwd: dir, env })
    expect(await child.exited).toBe(2)
    expect(child.stdout()).toBe('')
    const lines = child.stderr().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toContain(`keyward: ${line}`)
  })
})

describe('a port in use', () => {
  it('is one line saying so, and exit code 1', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const port = (holder.address() as { port: number }).port
    try {
      const dir = tempDir()
      const child = spawnServe(['--port', String(port), '--db', `sqlite:${join(dir, 'k.db')}`], {
        cwd: dir,
      })
      expect(await child.exited).toBe(1)
      expect(child.stderr()).toBe(
        `keyward: cannot listen on 127.0.0.1:${port}: the port is already in use: stop the program holding it, or choose another port with --port (0 picks a free one)\n`,
      )
    } finally {
      holder.close()
    }
  })
})

/** A database with a key that has a rate limit (so the limiter decides its requests). */
async function databaseWithLimitedKey(rate: string): Promise<{ db: string; key: string }> {
  const db = `sqlite:${join(tempDir(), 'keyward.db')}`
  const r = await runCli(
    ['keys', 'create', '--name', 'limited', '--scope', 'keys:read', '--rate', rate, '--json'],
    { env: { ...cliEnv, KEYWARD_DATABASE_URL: db } },
  )
  expect(r.code).toBe(0)
  return { db, key: (JSON.parse(r.stdout) as { key: string }).key }
}

async function readyz(base: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${base}/readyz`)
  return { status: r.status, body: (await r.json()) as Record<string, unknown> }
}

describe('Redis configured but absent', () => {
  // nothing listens on port 1
  const absent = 'redis://127.0.0.1:1'

  it.each([
    { policy: 'degrade', limited: 200 },
    { policy: 'fail-closed', limited: 503 },
  ])(
    'starts, says so, is not ready, and limits by the $policy policy',
    async ({ policy, limited }) => {
      const { db, key } = await databaseWithLimitedKey('100/1m')
      const child = spawnServe(
        ['--port', '0', '--db', db, '--redis', absent, '--redis-failure-policy', policy],
        { cwd: tempDir() },
      )
      const base = await child.listening()
      expect(child.stderr()).toContain(`rate limits on Redis at ${absent}, which is unreachable`)
      expect(child.stderr()).toContain('keyward: Redis is unreachable: ')
      const ready = await readyz(base)
      expect(ready.status).toBe(503)
      expect(ready.body).toMatchObject({ code: 'service_unavailable', failed: ['redis'] })
      expect(String(ready.body.detail)).toContain('redis is unreachable')
      const r = await fetch(`${base}/v1/keys`, { headers: { 'x-api-key': key } })
      expect(r.status).toBe(limited)
      if (limited === 503) expect(r.headers.get('retry-after')).not.toBeNull()
      // a key without limits never waits for the limiter
      const admin = bootstrapKey(child.stderr())!
      expect((await fetch(`${base}/v1/keys`, { headers: { 'x-api-key': admin } })).status).toBe(200)
      expect(await stopServe(child)).toBe(0)
    },
  )
})

describeWithService('redis', 'Redis configured and present', (redisUrl) => {
  it('is checked by readyz, and two nodes share the counters', async () => {
    const { db, key } = await databaseWithLimitedKey('3/1m')
    const prefix = uniqueName('serve')
    const args = ['--port', '0', '--db', db, '--redis', redisUrl, '--redis-prefix', prefix]
    const nodes = [spawnServe(args, { cwd: tempDir() }), spawnServe(args, { cwd: tempDir() })]
    const bases = await Promise.all(nodes.map((n) => n.listening()))
    expect(nodes[0]!.stderr()).toContain(`rate limits on Redis at ${redisUrl})`)
    expect(await readyz(bases[0]!)).toEqual({
      status: 200,
      body: { status: 'ready', checks: ['store', 'redis'] },
    })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${bases[i % 2]}/v1/keys`, { headers: { 'x-api-key': key } })
      statuses.push(r.status)
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    expect(await Promise.all(nodes.map(stopServe))).toEqual([0, 0])
  })
})
