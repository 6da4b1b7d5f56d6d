// Issue 12, "must include" 3: what keyward records never holds a secret, its hash, or a query
// string that held one. A whole scenario runs through `keyward serve` (the real startService,
// SQLite, the proxy in front of an upstream, trace logging) and through a library app that
// accepts keys in the query string; then every log line, audit row (all of them, through the
// store's listAudit), usage row (the whole table) and metrics label is searched for every
// secret and every stored hash.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import express from 'express'
import { afterAll, describe, expect, it } from 'vitest'
import { generateKey } from '../../src/core/key-format.js'
import { requireApiKey } from '../../src/http/express/index.js'
import { openKeyward } from '../../src/open/open-keyward.js'
import { startService } from '../../src/server/serve.js'
import { resolveSettings } from '../../src/server/settings.js'
import { openSqliteStore } from '../../src/stores/sqlite/index.js'
import { startUpstream, type Upstream } from '../fixtures/upstream.js'

const PEPPER = 'no-secret-recorded-pepper-0123456789abcdefghijklmnop'

const closers: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {})
})

/** A secret also counts as leaked when a long enough piece of it shows up. */
function pieces(secret: string): string[] {
  return secret.length > 24 ? [secret, secret.slice(10, -10)] : [secret]
}

describe('nothing keyward records holds a secret or its hash', () => {
  it('after create, verify (header, bearer, query; good and bad), rotate and revoke', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-no-secret-'))
    const dbPath = join(dir, 'keyward.db')
    const env = { KEYWARD_PEPPER: PEPPER }
    const upstream: Upstream = await startUpstream()
    closers.push(() => upstream.close())
    let stdout = ''
    let stderr = ''
    const settings = resolveSettings({
      flags: {
        port: '0',
        database: `sqlite:${dbPath}`,
        logLevel: 'trace',
        upstream: upstream.url,
      },
      env,
      cwd: dir,
    })
    const serve = await startService(settings, {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      env,
      cwd: dir,
      version: '0.0.0-test',
      signals: false,
    })
    let stopped = false
    closers.push(async () => {
      if (!stopped) await serve.stop()
    })
    const secrets = new Set<string>()
    // the one-time display of the bootstrap key is the only place a secret may be printed
    const bootstrap = /^ {4}(\S+)$/m.exec(stderr)?.[1]
    expect(bootstrap, stderr).toBeDefined()
    const admin = bootstrap!
    secrets.add(admin)

    const call = async (
      method: string,
      path: string,
      o: { key?: string | null; bearer?: string; body?: unknown; base?: string } = {},
    ) => {
      const headers: Record<string, string> = {}
      const key = o.key === undefined ? admin : o.key
      if (key !== null) headers['x-api-key'] = key
      if (o.bearer !== undefined) headers.authorization = `Bearer ${o.bearer}`
      if (o.body !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch((o.base ?? serve.url) + path, {
        method,
        headers,
        ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
      })
      const text = await res.text()
      return { status: res.status, text, json: () => JSON.parse(text) }
    }
    const create = async (body: Record<string, unknown>) => {
      const res = await call('POST', '/v1/keys', { body })
      expect(res.status, res.text).toBe(201)
      const { key, id } = res.json()
      secrets.add(key)
      return { key: key as string, id: id as string }
    }

    // create
    const reader = await create({ name: 'reader', scopes: ['orders:read', 'keys:read'] })
    const verifier = await create({ name: 'verifier', scopes: ['keys:verify'] })
    const limited = await create({
      name: 'limited',
      scopes: ['orders:read'],
      rateLimits: [{ name: 'second', limit: 1, window: '1m' }],
    })
    const unknown = generateKey()
    const typo = `${reader.key.slice(0, -1)}${reader.key.endsWith('A') ? 'B' : 'A'}`
    secrets.add(unknown)
    secrets.add(typo)

    // verify by header and bearer: the service's own routes, the proxy, the verify API
    expect((await call('GET', '/v1/keys', { key: reader.key })).status).toBe(200)
    expect((await call('GET', '/orders/1?page=2', { key: null, bearer: reader.key })).status).toBe(
      200,
    )
    expect((await call('POST', '/v1/keys', { key: reader.key, body: { name: 'x' } })).status).toBe(
      403,
    )
    expect((await call('GET', '/orders/1', { key: limited.key })).status).toBe(200)
    expect((await call('GET', '/orders/1', { key: limited.key })).status).toBe(429)
    for (const bad of [unknown, typo, 'kw_live_short', `${admin}x`]) {
      expect((await call('GET', '/v1/keys', { key: bad })).status).toBe(401)
      expect((await call('GET', '/orders/1', { key: null, bearer: bad })).status).toBe(401)
    }
    for (const key of [reader.key, unknown, typo]) {
      const res = await call('POST', '/v1/keys/verify', {
        key: verifier.key,
        body: { key, scopes: ['orders:read'], ip: '198.51.100.9', tag: '/orders/:id' },
      })
      expect(res.status).toBe(200)
    }
    // by query parameter: the service does not take keys there (401), but logs the URL
    expect((await call('GET', `/v1/keys?api_key=${reader.key}`, { key: null })).status).toBe(401)
    expect((await call('GET', `/orders/1?api_key=${unknown}&x=1`, { key: null })).status).toBe(401)

    // a library app on the same database that accepts the query parameter, logging at debug
    const logs: string[] = []
    const lib = await openKeyward({
      databaseUrl: `sqlite:${dbPath}`,
      env,
      cwd: dir,
      warn: (m) => logs.push(m),
      keyward: { usageFlushIntervalMs: 60_000 },
    })
    closers.push(() => lib.close())
    const app = express()
    app.get(
      '/orders/:id',
      requireApiKey({
        keyward: lib.keyward,
        sources: ['x-api-key', 'query'],
        scopes: ['orders:read'],
        logger: { warn: (m) => logs.push(JSON.stringify({ level: 'warn', msg: m })) },
        onDenied: (event, req) =>
          logs.push(
            JSON.stringify({
              level: 'debug',
              ...event,
              url: req.originalUrl.replace(/api_key=[^&]*/, 'api_key=[REDACTED]'),
            }),
          ),
      }),
      (req, res) => {
        logs.push(JSON.stringify({ level: 'debug', msg: 'served', keyId: req.apiKey?.id }))
        res.json({ ok: true })
      },
    )
    const server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    closers.push(() => new Promise((resolve) => server.close(resolve)))
    const libUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    for (const [key, status] of [
      [reader.key, 200],
      [unknown, 401],
      [typo, 401],
      [verifier.key, 403],
    ] as const) {
      const res = await call('GET', `/orders/7?api_key=${encodeURIComponent(key)}`, {
        key: null,
        base: libUrl,
      })
      expect(res.status, res.text).toBe(status)
    }

    // rotate, use both secrets, revoke, use it again
    const rotated = await call('POST', `/v1/keys/${reader.id}/rotate`, {
      body: { gracePeriod: '1h' },
    })
    expect(rotated.status).toBe(200)
    const next = rotated.json().key as string
    secrets.add(next)
    expect((await call('GET', '/orders/2', { key: reader.key })).status).toBe(200)
    expect((await call('GET', '/orders/2', { key: next })).status).toBe(200)
    expect((await call('DELETE', `/v1/keys/${reader.id}`)).status).toBeLessThan(300)
    expect((await call('GET', '/orders/3', { key: next })).status).toBe(401)
    expect((await call('GET', '/orders/3', { key: reader.key })).status).toBe(401)

    const metrics = (await call('GET', '/metrics', { key: null })).text
    await lib.close()
    await serve.stop()
    stopped = true

    // what was recorded
    const store = openSqliteStore(dbPath)
    closers.push(() => store.close())
    await store.migrate()
    const audit = await store.listAudit({ limit: 1_000_000 })
    expect(audit.length).toBeGreaterThan(3)
    const db = new Database(dbPath, { readonly: true })
    closers.push(async () => db.close())
    const usageRows = db.prepare('SELECT * FROM keyward_usage').all()
    expect(usageRows.length).toBeGreaterThan(5)
    const hashes = db.prepare('SELECT hash FROM keyward_secrets').pluck().all() as string[]
    expect(hashes.length).toBeGreaterThanOrEqual(5)
    const lastUsed = db
      .prepare('SELECT count(*) FROM keyward_secrets WHERE last_used_at IS NOT NULL')
      .pluck()
      .get()
    expect(lastUsed).toBeGreaterThanOrEqual(3)
    // the query strings were recorded nowhere with their keys, and the scenario really logged
    expect(stdout).toContain('[REDACTED]')
    expect(stdout.split('\n').length).toBeGreaterThan(30)
    const labels = metrics
      .split('\n')
      .filter((l) => l.includes('{'))
      .map((l) => l.slice(l.indexOf('{'), l.lastIndexOf('}') + 1))
    const recorded: [string, string][] = [
      ['log line (serve stdout)', stdout],
      ['serve stderr after the bootstrap display', stderr.replaceAll(admin, '<bootstrap display>')],
      ['library app log line', logs.join('\n')],
      ['audit row', JSON.stringify(audit)],
      ['usage row', JSON.stringify(usageRows)],
      ['metrics label', labels.join('\n')],
    ]
    // the bootstrap display is the only place the admin key appears on stderr, exactly twice
    expect(stderr.split(admin).length - 1).toBe(2)
    const needles = [...[...secrets].flatMap(pieces), ...hashes]
    for (const [what, text] of recorded) {
      for (const needle of needles) {
        expect(text.includes(needle), `a ${what} holds ${needle.slice(0, 12)}…`).toBe(false)
      }
    }
  })
})
