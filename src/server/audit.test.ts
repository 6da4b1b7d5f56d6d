// The audit trail, expiry policy and rotation over HTTP: GET /v1/audit with filters and pages,
// GET/PUT /v1/policy, secrets and pastPolicy in key answers, finishing a rotation, and 409 for
// a rotation that lost to another one.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startService, type TestService } from '../../test/helpers/service.js'

let svc: TestService
beforeEach(async () => {
  svc = await startService({ service: { trustedProxies: ['127.0.0.1'] } })
})
afterEach(async () => {
  svc.expectNoSecretLeaked()
  await svc.close()
})

describe('GET /v1/audit', () => {
  it('lists admin changes newest first with actor, source IP and what changed', async () => {
    const created = await svc.call('POST', '/v1/keys', {
      body: { name: 'billing', scopes: ['orders:read'] },
      headers: { 'x-forwarded-for': '203.0.113.9' },
    })
    expect(created.status).toBe(201)
    svc.secrets.add(created.body.key)
    const id = created.body.id as string
    await svc.call('PATCH', `/v1/keys/${id}`, { body: { name: 'billing-2' } })
    const page = await svc.call('GET', `/v1/audit?keyId=${id}`)
    expect(page.status).toBe(200)
    expect(page.body.items.map((e: { type: string }) => e.type)).toEqual(['key.updated', 'key.created'])
    const [updated, first] = page.body.items
    expect(first).toMatchObject({
      type: 'key.created',
      keyId: id,
      actor: svc.adminId,
      ip: '203.0.113.9',
      count: 1,
    })
    expect(Number.isNaN(Date.parse(first.at))).toBe(false)
    expect(first.seq).toBeLessThan(updated.seq)
    expect(updated).toMatchObject({
      actor: svc.adminId,
      ip: '127.0.0.1',
      details: { changed: ['name'], changes: { name: { from: 'billing', to: 'billing-2' } } },
    })
    expect(page.body.nextCursor).toBeNull()
    expect(page.text).not.toContain(created.body.key)
  })

  it('filters by actor, type, since and until, and pages with a cursor', async () => {
    for (let i = 0; i < 5; i++) await svc.call('POST', '/v1/keys', { body: { name: `k${i}` } })
    await svc.keyward.setRole('ops', ['orders:read'], { actor: 'cli:alice' })
    const byType = await svc.call('GET', '/v1/audit?type=role.set')
    expect(byType.body.items).toHaveLength(1)
    const byActor = await svc.call('GET', '/v1/audit?actor=cli%3Aalice')
    expect(byActor.body.items.map((e: { type: string }) => e.type)).toEqual(['role.set'])
    const future = new Date(Date.now() + 60_000).toISOString()
    expect((await svc.call('GET', `/v1/audit?since=${future}`)).body.items).toEqual([])
    expect((await svc.call('GET', '/v1/audit?until=2000-01-01T00:00:00Z')).body.items).toEqual([])
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const res: { body: { items: { id: string }[]; nextCursor: string | null } } = await svc.call(
        'GET',
        `/v1/audit?type=key.created&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      )
      seen.push(...res.body.items.map((e) => e.id))
      cursor = res.body.nextCursor
    } while (cursor !== null)
    // the service's own two keys, and the five created here
    expect(seen).toHaveLength(7)
    expect(new Set(seen).size).toBe(7)
  })

  it('refuses bad filters with a clear 400, and callers without audit:read', async () => {
    const bad = await svc.call('GET', '/v1/audit?since=yesterday')
    expect(bad.status).toBe(400)
    expect(bad.body.detail).toBe('querystring/since must match format "date-time"')
    const cursor = await svc.call('GET', '/v1/audit?cursor=nope')
    expect(cursor.status).toBe(400)
    expect(cursor.body.detail).toContain('cursor is not valid')
    const reader = await svc.createKey({ name: 'reader', scopes: ['keys:read'] })
    const denied = await svc.call('GET', '/v1/audit', { key: reader.key })
    expect(denied.status).toBe(403)
  })

  it('records denials of known keys with their count', async () => {
    const { key, id } = await svc.createKey({ name: 'narrow', scopes: ['orders:read'] })
    for (let i = 0; i < 3; i++) {
      const res = await svc.call('GET', '/v1/keys', { key })
      expect(res.status).toBe(403)
    }
    await svc.keyward.flush()
    const page = await svc.call('GET', `/v1/audit?keyId=${id}&type=key.denied`)
    expect(page.body.items).toHaveLength(1)
    expect(page.body.items[0]).toMatchObject({
      count: 3,
      actor: null,
      ip: '127.0.0.1',
      details: { code: 'insufficient_scope' },
    })
  })
})

describe('rotation over HTTP', () => {
  it('shows every secret with its state, finishes the grace period, and 409s a lost race', async () => {
    const { id } = await svc.createKey({ name: 'rotating' })
    const before = await svc.call('GET', `/v1/keys/${id}`)
    expect(before.body.secrets).toEqual([
      expect.objectContaining({ hint: before.body.hint, state: 'current', current: true, expiresAt: null, lastUsedAt: null }),
    ])
    const rotated = await svc.call('POST', `/v1/keys/${id}/rotate`, { body: { gracePeriod: '7d' } })
    expect(rotated.status).toBe(200)
    svc.secrets.add(rotated.body.key)
    const during = await svc.call('GET', `/v1/keys/${id}`)
    expect(during.body.secrets.map((s: { state: string }) => s.state)).toEqual(['current', 'grace'])
    expect(during.body.secrets[1].hint).toBe(before.body.hint)
    expect(Date.parse(during.body.secrets[1].expiresAt)).toBeGreaterThan(Date.now() + 6 * 86_400_000)

    // a rotation from the hint read before the first one: refused, nothing changed
    const late = await svc.call('POST', `/v1/keys/${id}/rotate`, {
      body: { expectHint: before.body.hint },
    })
    expect(late.status).toBe(409)
    expect(late.headers.get('content-type')).toBe('application/problem+json')
    expect(late.body.code).toBe('conflict')
    expect(late.body.detail).toContain('rotated by someone else')
    expect((await svc.call('GET', `/v1/keys/${id}`)).body.secrets).toHaveLength(2)

    const finished = await svc.call('POST', `/v1/keys/${id}/rotate/finish`)
    expect(finished.status).toBe(200)
    expect(finished.body.endedSecrets).toBe(1)
    expect(finished.body.secrets.map((s: { state: string }) => s.state)).toEqual(['current', 'expired'])
    const audit = await svc.call('GET', `/v1/audit?keyId=${id}`)
    expect(audit.body.items.map((e: { type: string }) => e.type)).toEqual([
      'key.rotation_finished',
      'key.rotated',
      'key.created',
    ])
  })

  it('two rotations at once: each answers 200 or 409, and one secret stays current', async () => {
    const { id } = await svc.createKey({ name: 'raced' })
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => svc.call('POST', `/v1/keys/${id}/rotate`)),
    )
    for (const a of answers) if (a.status === 200) svc.secrets.add(a.body.key)
    expect(answers.every((a) => a.status === 200 || a.status === 409)).toBe(true)
    const ok = answers.filter((a) => a.status === 200).length
    const shown = await svc.call('GET', `/v1/keys/${id}`)
    expect(shown.body.secrets).toHaveLength(1 + ok)
    expect(shown.body.secrets.filter((s: { current: boolean }) => s.current)).toHaveLength(1)
  })
})

describe('expiry policy over HTTP', () => {
  it('sets and shows the policy, flags keys past it, and needs the admin scope', async () => {
    const { id } = await svc.createKey({ name: 'old', ownerId: 'svc:old' })
    const put = await svc.call('PUT', '/v1/policy', { body: { maxAge: '90d' } })
    expect(put.status).toBe(200)
    expect(put.body).toEqual({ maxAge: '90d', owners: {} })
    const owner = await svc.call('PUT', '/v1/policy', { body: { maxAge: '1ms', owner: 'svc:old' } })
    expect(owner.body).toEqual({ maxAge: '90d', owners: { 'svc:old': '1ms' } })
    await new Promise((resolve) => setTimeout(resolve, 5))
    const one = await svc.call('GET', `/v1/keys/${id}`)
    expect(one.body).toMatchObject({ pastPolicy: true, policy: { maxAge: '1ms', pastPolicy: true } })
    const list = await svc.call('GET', '/v1/keys')
    const flagged = list.body.items.filter((k: { pastPolicy: boolean }) => k.pastPolicy)
    expect(flagged.map((k: { id: string }) => k.id)).toEqual([id])
    expect((await svc.call('GET', '/v1/policy')).body).toEqual({
      maxAge: '90d',
      owners: { 'svc:old': '1ms' },
    })
    const events = await svc.call('GET', '/v1/audit?type=policy.changed')
    expect(events.body.items[0].details).toMatchObject({ owner: 'svc:old', maxAge: { from: null, to: '1ms' } })
    const bad = await svc.call('PUT', '/v1/policy', { body: { maxAge: 'soon' } })
    expect(bad.status).toBe(400)
    expect(bad.body.detail).toContain('maxAge "soon" is not a duration')
    const writer = await svc.createKey({ name: 'writer', scopes: ['keys:write', 'keys:read'] })
    expect((await svc.call('GET', '/v1/policy', { key: writer.key })).status).toBe(403)
  })

  it('exports the expiry gauges and the dropped-events counter on /metrics', async () => {
    await svc.createKey({ name: 'soon', expiresInMs: 3_600_000 })
    await svc.createKey({ name: 'later', expiresInMs: 5 * 86_400_000 })
    await svc.keyward.setExpiryPolicy({ maxAgeMs: 1 })
    await new Promise((resolve) => setTimeout(resolve, 5))
    const metrics = (await svc.call('GET', '/metrics', { key: null })).text
    expect(metrics).toContain('keyward_keys_expiring{within="1d"} 1')
    expect(metrics).toContain('keyward_keys_expiring{within="7d"} 2')
    expect(metrics).toContain('keyward_keys_expiring{within="30d"} 2')
    // every active key is past a 1 ms maximum age: the two here and the service's own two
    expect(metrics).toContain('keyward_keys_past_policy 4')
    expect(metrics).toContain('keyward_audit_events_dropped_total 0')
  })
})

describe('/openapi.json', () => {
  it('describes the audit, policy and rotation routes with their fields', async () => {
    const doc = (await svc.call('GET', '/openapi.json', { key: null })).body
    const audit = doc.paths['/v1/audit'].get
    expect(audit.tags).toEqual(['audit'])
    expect(audit.parameters.map((p: { name: string }) => p.name).sort()).toEqual(
      ['actor', 'cursor', 'keyId', 'limit', 'since', 'type', 'until'],
    )
    const item = audit.responses['200'].content['application/json'].schema.properties.items.items
    expect(Object.keys(item.properties).sort()).toEqual(
      ['actor', 'at', 'count', 'details', 'id', 'ip', 'keyId', 'seq', 'type'],
    )
    expect(doc.paths['/v1/policy'].get.tags).toEqual(['policy'])
    expect(doc.paths['/v1/policy'].put.requestBody.content['application/json'].schema.required).toEqual(['maxAge'])
    const finish = doc.paths['/v1/keys/{id}/rotate/finish'].post
    expect(finish.summary).toContain('grace period')
    const one = doc.paths['/v1/keys/{id}'].get.responses['200'].content['application/json'].schema
    expect(Object.keys(one.properties)).toEqual(expect.arrayContaining(['secrets', 'pastPolicy', 'policy']))
    const rotate = doc.paths['/v1/keys/{id}/rotate'].post.requestBody.content['application/json'].schema
    expect(Object.keys(rotate.properties).sort()).toEqual(['expectHint', 'gracePeriod'])
  })
})
