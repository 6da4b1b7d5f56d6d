// The roles routes on a real listening server: success, denials, and the effect on keys.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startService, type TestService } from '../../test/helpers/service.js'

let svc: TestService
let reader: string
let writer: string
beforeAll(async () => {
  svc = await startService()
  reader = (await svc.createKey({ name: 'reader', scopes: ['keys:read'] })).key
  writer = (await svc.createKey({ name: 'role writer', scopes: ['roles:write'] })).key
})
afterEach(() => svc.expectNoSecretLeaked())
afterAll(() => svc.close())

describe('roles', () => {
  it('PUT defines (201) and replaces (200) a role; GET lists and shows it', async () => {
    const created = await svc.call('PUT', '/v1/roles/billing', {
      key: writer,
      body: { scopes: ['orders:read', 'orders:read', 'invoices:*'] },
    })
    expect(created.status).toBe(201)
    // stored deduplicated, and answered as stored
    expect(created.body).toEqual({ name: 'billing', scopes: ['orders:read', 'invoices:*'] })
    const replaced = await svc.call('PUT', '/v1/roles/billing', {
      key: writer,
      body: { scopes: ['orders:write'] },
    })
    expect(replaced.status).toBe(200)
    expect(replaced.body).toEqual({ name: 'billing', scopes: ['orders:write'] })
    await svc.call('PUT', '/v1/roles/auditor', { key: writer, body: { scopes: [] } })

    const one = await svc.call('GET', '/v1/roles/billing', { key: reader })
    expect(one.status).toBe(200)
    expect(one.body).toEqual({ name: 'billing', scopes: ['orders:write'] })
    const all = await svc.call('GET', '/v1/roles', { key: reader })
    expect(all.status).toBe(200)
    expect(all.body).toEqual({
      items: [
        { name: 'auditor', scopes: [] },
        { name: 'billing', scopes: ['orders:write'] },
      ],
    })
  })

  it('a change applies to keys holding the role at once; DELETE takes its scopes away', async () => {
    await svc.call('PUT', '/v1/roles/shipper', { key: writer, body: { scopes: ['parcels:send'] } })
    const { key } = await svc.createKey({ name: 'with role', roles: ['shipper'] })
    expect((await svc.keyward.verify(key, { scopes: ['parcels:send'] })).ok).toBe(true)
    await svc.call('PUT', '/v1/roles/shipper', { key: writer, body: { scopes: ['parcels:track'] } })
    expect(await svc.keyward.verify(key, { scopes: ['parcels:send'] })).toMatchObject({
      ok: false,
      code: 'insufficient_scope',
    })
    const deleted = await svc.call('DELETE', '/v1/roles/shipper', { key: writer })
    expect(deleted.status).toBe(204)
    expect(deleted.text).toBe('')
    expect(await svc.keyward.verify(key, { scopes: ['parcels:track'] })).toMatchObject({
      ok: false,
      code: 'insufficient_scope',
    })
    const gone = await svc.call('GET', '/v1/roles/shipper', { key: reader })
    expect(gone.status).toBe(404)
    expect(gone.body.detail).toMatch(/No role named "shipper"/)
  })

  it('DELETE of a role that does not exist is 404', async () => {
    const res = await svc.call('DELETE', '/v1/roles/never-defined', { key: writer })
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.body).toMatchObject({ code: 'not_found', status: 404 })
  })

  it('refuses a bad name, bad scopes, a missing or unknown field with 400', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/v1/roles/Billing', { scopes: [] }, /role "Billing" is not valid/],
      ['/v1/roles/billing', { scopes: ['orders::read'] }, /scope "orders::read" is not valid/],
      ['/v1/roles/billing', {}, /missing the required field "scopes"/],
      ['/v1/roles/billing', { scopes: 'orders:read' }, /body\/scopes must be array/],
      ['/v1/roles/billing', { scopes: [], name: 'x' }, /unknown field "name"/],
    ]
    for (const [path, body, message] of cases) {
      const res = await svc.call('PUT', path, { key: writer, body })
      expect(res.status).toBe(400)
      expect(res.body.code).toBe('invalid_request')
      expect(res.body.detail).toMatch(message)
    }
  })

  it('reading needs keys:read, changing needs roles:write', async () => {
    const denied: [string, string, string][] = [
      ['GET', '/v1/roles', writer],
      ['GET', '/v1/roles/billing', writer],
      ['PUT', '/v1/roles/billing', reader],
      ['DELETE', '/v1/roles/billing', reader],
    ]
    for (const [method, path, key] of denied) {
      const body = method === 'PUT' ? { scopes: [] } : undefined
      const res = await svc.call(method, path, { key, body })
      expect(res.status).toBe(403)
      expect(res.body.code).toBe('insufficient_scope')
      const none = await svc.call(method, path, { key: null, body })
      expect(none.status).toBe(401)
    }
    // the admin scope holds both
    expect((await svc.call('GET', '/v1/roles')).status).toBe(200)
  })

  it('are described in /openapi.json with summaries, under the roles tag', async () => {
    const doc = (await svc.call('GET', '/openapi.json', { key: null })).body
    const ops = [
      doc.paths['/v1/roles'].get,
      doc.paths['/v1/roles/{name}'].get,
      doc.paths['/v1/roles/{name}'].put,
      doc.paths['/v1/roles/{name}'].delete,
    ]
    for (const op of ops) {
      expect(op.tags).toEqual(['roles'])
      expect(op.summary.length).toBeGreaterThan(5)
    }
    expect(Object.keys(doc.paths['/v1/roles/{name}'].put.responses).sort()).toEqual(
      ['200', '201', '4XX', '5XX'].sort(),
    )
  })
})
