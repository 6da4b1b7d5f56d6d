// What the audit trail records never includes a secret or a stored hash: a whole scenario
// (create; verify good and bad keys, by header and through the verify API; rotate; finish;
// revoke; deny) runs against the service on an SQLite file with debug logging, then every log
// line, every stored audit row (read raw from the file) and the metrics are searched for each
// secret and each stored hash.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Database from 'better-sqlite3'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/stores/sqlite/index.js'
import { startService } from '../helpers/service.js'

describe('the audit trail holds no secret and no hash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-audit-secrets-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('after a whole scenario: logs, audit rows and metrics', async () => {
    const file = join(dir, 'keyward.db')
    const lines: string[] = []
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk))
          done()
        },
      }),
    )
    const svc = await startService({
      store: createSqliteStore({ db: new Database(file) }),
      service: { logger },
      keyward: { audit: { flushIntervalMs: 3_600_000 } },
    })
    const created = await svc.call('POST', '/v1/keys', {
      body: { name: 'scenario', scopes: ['orders:read'], ipAllowlist: ['127.0.0.1'] },
    })
    const id = created.body.id as string
    const first = created.body.key as string
    const verify = (key: string, extra: Record<string, unknown> = {}) =>
      svc.call('POST', '/v1/keys/verify', { key: svc.verifyKey, body: { key, ...extra } })
    expect((await verify(first, { scopes: ['orders:read'], ip: '127.0.0.1' })).body.valid).toBe(true)
    expect((await verify(first, { scopes: ['orders:write'], ip: '127.0.0.1' })).body.code).toBe('insufficient_scope')
    expect((await verify(first, { ip: '192.0.2.1' })).body.code).toBe('ip_not_allowed')
    expect((await verify(`${first.slice(0, -3)}zzz`)).body.code).toBe('key_invalid')
    // a key used as the caller's own credential (header) without the scope the route needs
    expect((await svc.call('GET', '/v1/keys', { key: first })).status).toBe(403)
    const rotated = await svc.call('POST', `/v1/keys/${id}/rotate`, { body: { gracePeriod: '1h' } })
    const second = rotated.body.key as string
    await svc.call('POST', `/v1/keys/${id}/rotate/finish`)
    expect((await verify(first)).body.code).toBe('key_expired')
    await svc.call('PATCH', `/v1/keys/${id}`, { body: { name: 'scenario-2' } })
    await svc.call('DELETE', `/v1/keys/${id}`)
    expect((await verify(second)).body.code).toBe('key_revoked')
    await svc.keyward.flush()
    const metrics = (await svc.call('GET', '/metrics', { key: null })).text

    const db = new Database(file, { readonly: true })
    const rows = db.prepare('SELECT * FROM keyward_audit').all()
    const hashes = db.prepare('SELECT hash FROM keyward_secrets').pluck().all() as string[]
    db.close()
    const audit = JSON.stringify(rows)
    // the scenario was recorded: admin changes and denials of the key
    for (const type of ['key.created', 'key.rotated', 'key.rotation_finished', 'key.updated', 'key.revoked'])
      expect(audit).toContain(`"${type}"`)
    for (const code of ['insufficient_scope', 'ip_not_allowed', 'key_expired', 'key_revoked'])
      expect(audit).toContain(code)
    expect(lines.length).toBeGreaterThan(10)
    const everything = { logs: lines.join(''), audit, metrics }
    const secrets = [first, second, svc.adminKey, svc.verifyKey]
    expect(hashes.length).toBeGreaterThanOrEqual(secrets.length)
    for (const [where, text] of Object.entries(everything)) {
      for (const s of secrets) expect(text.includes(s), `a secret in ${where}`).toBe(false)
      for (const h of hashes) expect(text.includes(h), `a stored hash in ${where}`).toBe(false)
    }
    await expect(svc.keyward.audit.verify()).resolves.toMatchObject({ ok: true })
    await svc.close()
  })
})
