// The create form's rules against the server's: what the form lets through, the server takes;
// and each server refusal lands on the field it is about.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startService, type TestService } from '../../test/helpers/service.js'
import { EMPTY_FORM, type Field, fieldOf, type KeyForm, toBody, validate } from './key-form'

let svc: TestService
beforeAll(async () => {
  svc = await startService()
})
afterAll(() => svc.close())

describe('server problems land on their field', () => {
  const cases: [Field, Record<string, unknown>][] = [
    ['name', { name: '' }],
    ['name', { name: '   ' }],
    ['owner', { name: 'x', owner: 'o'.repeat(201) }],
    ['scopes', { name: 'x', scopes: ['Orders:Read'] }],
    ['roles', { name: 'x', roles: ['undefined-role'] }],
    ['roles', { name: 'x', roles: ['Bad Role'] }],
    ['expiresIn', { name: 'x', expiresIn: 'soon' }],
    ['expiresIn', { name: 'x', expiresAt: '2001-01-01T00:00:00Z' }],
    ['rateLimits', { name: 'x', rateLimits: [{ name: 'Bad', limit: 1, window: '1m' }] }],
    ['rateLimits', { name: 'x', rateLimits: [{ name: 'ok', limit: 1, window: 'often' }] }],
    ['quota', { name: 'x', quota: { limit: 1, period: 'monthly' } }],
    ['metadata', { name: 'x', metadata: { big: 'y'.repeat(5000) } }],
    ['ipAllowlist', { name: 'x', ipAllowlist: ['999.1.1.1'] }],
    ['prefix', { name: 'x', prefix: 'Live!' }],
  ]
  it.each(cases)('%s: %j', async (field, body) => {
    const res = await svc.call('POST', '/v1/keys', { body })
    expect(res.status).toBe(400)
    expect(fieldOf(res.body.detail)).toBe(field)
  })

  it('a problem about no field is for the form as a whole', () => {
    expect(fieldOf('The key store is unreachable; nothing was changed.')).toBeNull()
  })
})

describe('the form checks as the server does', () => {
  const form = (over: Partial<KeyForm>): KeyForm => ({ ...EMPTY_FORM, name: 'ok', ...over })

  it('what the form accepts, the server creates as typed', async () => {
    const f = form({
      name: ' billing ',
      owner: 'svc:billing',
      scopes: 'orders:read, orders:*',
      expiresIn: '90d',
      rateLimits: 'burst=20/1s, hour=1000/1h',
      quota: '10000/30d',
      metadata: '{"team": "billing"}',
      ipAllowlist: '10.0.0.0/8 2001:db8::/32',
      prefix: 'kw_test',
    })
    expect(validate(f)).toEqual({})
    const res = await svc.call('POST', '/v1/keys', { body: toBody(f) })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({
      name: 'billing',
      owner: 'svc:billing',
      scopes: ['orders:read', 'orders:*'],
      rateLimits: [
        { name: 'burst', limit: 20, window: '1s' },
        { name: 'hour', limit: 1000, window: '1h' },
      ],
      quota: { limit: 10000, period: '30d' },
      metadata: { team: 'billing' },
      ipAllowlist: ['10.0.0.0/8', '2001:db8::/32'],
      prefix: 'kw_test',
    })
    expect(res.body.key).toMatch(/^kw_test_/)
  })

  it('a single unnamed rate limit is named "default"', () => {
    expect(toBody(form({ rateLimits: '100/1m' })).rateLimits).toEqual([{ name: 'default', limit: 100, window: '1m' }])
  })

  it.each<[Field, string]>([
    ['name', ''],
    ['owner', 'o'.repeat(201)],
    ['scopes', 'Orders:Read'],
    ['roles', 'Bad Role'],
    ['expiresIn', '0d'],
    ['rateLimits', '100/1m, 5/1s'],
    ['rateLimits', 'a=1/1m, a=2/1h'],
    ['quota', '10/month'],
    ['metadata', '[1]'],
    ['metadata', `{"a": "${'y'.repeat(5000)}"}`],
    ['ipAllowlist', '10.0.0.0/33'],
    ['prefix', 'Live!'],
  ])('refuses a bad %s (%s), and only that field', async (field, value) => {
    const f = form({ [field]: value })
    expect(Object.keys(validate(f))).toEqual([field])
  })
})
