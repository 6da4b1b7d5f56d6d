// POST /oauth/token: RFC 6749 client credentials with the API key as the client credential,
// and the tokens it issues accepted by the service's own routes.
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { type Answer, startSigningService, type TestService } from '../../test/helpers/service.js'
import { createMemoryLimiter } from '../limits/memory.js'
import type { ServiceOptions } from './app.js'

const FORM = 'application/x-www-form-urlencoded'
const running: TestService[] = []
afterEach(async () => {
  for (const s of running.splice(0)) {
    s.expectNoSecretLeaked()
    await s.close()
  }
})

async function start(service: Partial<ServiceOptions> = {}) {
  const svc = await startSigningService({
    keyward: { limits: { limiter: createMemoryLimiter() } },
    service,
  })
  running.push(svc)
  return svc
}

type Params = Record<string, string | string[]>

function form(params: Params): string {
  const f = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) f.append(k, x)
  return f.toString()
}

/** A token request; the key goes in X-API-Key unless `key: null`. */
function tokenRequest(
  svc: TestService,
  params: Params,
  options: { key?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return svc.call('POST', '/oauth/token', {
    key: options.key === undefined ? svc.adminKey : options.key,
    body: form(params),
    headers: { 'content-type': FORM, ...options.headers },
  })
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
const GRANT = { grant_type: 'client_credentials' }

function expectOAuthError(res: Answer, status: number, error: string, description?: RegExp) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/json')
  expect(res.headers.get('cache-control')).toBe('no-store')
  expect(Object.keys(res.body)).toEqual(['error', 'error_description'])
  expect(res.body.error).toBe(error)
  if (description) expect(res.body.error_description).toMatch(description)
  if (status === 401)
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="keyward", charset="UTF-8"')
  else expect(res.headers.get('www-authenticate')).toBeNull()
}

describe('POST /oauth/token', () => {
  it('trades a key in X-API-Key for an RFC 9068 access token for this service, 5 minutes', async () => {
    const svc = await start()
    const { key, id } = await svc.createKey({
      name: 'orders',
      ownerId: 'team:orders',
      scopes: ['orders:read', 'orders:write'],
    })
    const res = await tokenRequest(svc, GRANT, { key })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('pragma')).toBe('no-cache')
    expect(Object.keys(res.body)).toEqual(['access_token', 'token_type', 'expires_in', 'scope'])
    expect(res.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'orders:read orders:write',
    })
    const token = res.body.access_token as string
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' })
    const claims = decodeJwt(token)
    expect(claims).toMatchObject({
      iss: svc.url,
      sub: id,
      aud: svc.url,
      client_id: id,
      scope: 'orders:read orders:write',
      owner: 'team:orders',
    })
    expect(claims.exp! - claims.iat!).toBe(300)
    expect(typeof claims.jti).toBe('string')
  })

  it('takes client_id and client_secret by Basic auth or in the body, and JSON', async () => {
    const svc = await start()
    const { key, id } = await svc.createKey({ name: 'b', scopes: ['orders:read'] })
    const byBasic = await tokenRequest(svc, GRANT, {
      key: null,
      headers: { authorization: basic(id, key) },
    })
    expect(byBasic.status).toBe(200)
    expect(decodeJwt(byBasic.body.access_token).sub).toBe(id)
    const byBody = await tokenRequest(
      svc,
      { ...GRANT, client_id: id, client_secret: key },
      { key: null },
    )
    expect(byBody.status).toBe(200)
    const byJson = await svc.call('POST', '/oauth/token', {
      key: null,
      body: {
        grant_type: 'client_credentials',
        client_id: id,
        client_secret: key,
        scope: 'orders:read',
      },
    })
    expect(byJson.status).toBe(200)
    expect(byJson.body.scope).toBe('orders:read')
  })

  it('refuses a client_id that is not the key`s, and a secret without its id being right', async () => {
    const svc = await start()
    const { key } = await svc.createKey({ name: 'b' })
    const other = await svc.createKey({ name: 'c' })
    expectOAuthError(
      await tokenRequest(svc, GRANT, {
        key: null,
        headers: { authorization: basic(other.id, key) },
      }),
      401,
      'invalid_client',
      /^client_id is not the id of this API key/,
    )
    expectOAuthError(
      await tokenRequest(svc, { ...GRANT, client_id: other.id }, { key: null }),
      401,
      'invalid_client',
      /^client_id without a client_secret/,
    )
  })

  it('a wrong, revoked or missing key is invalid_client (401, Basic challenge)', async () => {
    const svc = await start()
    const { key, id } = await svc.createKey({ name: 'r' })
    await svc.keyward.revokeKey(id)
    expectOAuthError(await tokenRequest(svc, GRANT, { key }), 401, 'invalid_client', /revoked/)
    expectOAuthError(
      await tokenRequest(svc, GRANT, { key: `${key.slice(0, -6)}AAAAAA` }),
      401,
      'invalid_client',
      /^the client credential is not valid/,
    )
    expectOAuthError(
      await tokenRequest(svc, GRANT, { key: null }),
      401,
      'invalid_client',
      /^no client credential/,
    )
  })

  it('a token never buys another token: a bearer token is no client credential', async () => {
    const svc = await start()
    const token = (await tokenRequest(svc, GRANT)).body.access_token as string
    expectOAuthError(
      await tokenRequest(svc, GRANT, { key: null, headers: { authorization: `Bearer ${token}` } }),
      401,
      'invalid_client',
      /^no client credential/,
    )
    expectOAuthError(
      await tokenRequest(svc, { ...GRANT, client_secret: token }, { key: null }),
      401,
      'invalid_client',
    )
  })

  it('refuses two client credentials at once, and repeated parameters (invalid_request)', async () => {
    const svc = await start()
    const { key, id } = await svc.createKey({ name: 'x' })
    expectOAuthError(
      await tokenRequest(svc, GRANT, { key, headers: { authorization: basic(id, key) } }),
      400,
      'invalid_request',
      /more than one client credential/,
    )
    expectOAuthError(
      await tokenRequest(svc, { ...GRANT, scope: ['a:b', 'c:d'] }),
      400,
      'invalid_request',
      /"scope" is repeated/,
    )
  })

  it('grant_type: missing is invalid_request, another is unsupported_grant_type', async () => {
    const svc = await start()
    expectOAuthError(await tokenRequest(svc, {}), 400, 'invalid_request', /grant_type is missing/)
    expectOAuthError(
      await tokenRequest(svc, { grant_type: 'password' }),
      400,
      'unsupported_grant_type',
    )
  })

  it('a body that is neither a form nor JSON is invalid_request in OAuth terms', async () => {
    const svc = await start()
    const res = await svc.call('POST', '/oauth/token', {
      body: 'grant_type=client_credentials',
      headers: { 'content-type': 'text/plain' },
    })
    expectOAuthError(res, 400, 'invalid_request', /application\/x-www-form-urlencoded/)
    const broken = await svc.call('POST', '/oauth/token', {
      body: '{"grant_type":',
      headers: { 'content-type': 'application/json' },
    })
    expectOAuthError(broken, 400, 'invalid_request', /cannot be parsed/)
  })

  it('scope: fewer than the key has, never more (invalid_scope names what is missing)', async () => {
    const svc = await start()
    const { key } = await svc.createKey({ name: 's', scopes: ['orders:*', 'billing:read'] })
    const narrow = await tokenRequest(
      svc,
      { ...GRANT, scope: 'orders:read  billing:read' },
      { key },
    )
    expect(narrow.status).toBe(200)
    expect(narrow.body.scope).toBe('orders:read billing:read')
    expect(decodeJwt(narrow.body.access_token).scope).toBe('orders:read billing:read')
    expectOAuthError(
      await tokenRequest(svc, { ...GRANT, scope: 'orders:read billing:write users:read' }, { key }),
      400,
      'invalid_scope',
      /^the API key does not have the scopes billing:write, users:read/,
    )
    expectOAuthError(
      await tokenRequest(svc, { ...GRANT, scope: 'Orders Read' }, { key }),
      400,
      'invalid_scope',
      /is not a scope/,
    )
  })

  it('audience and resource: registered ones only (invalid_target), the first by default', async () => {
    const orders = 'https://orders.internal'
    const billing = 'https://billing.internal'
    const svc = await start({ tokens: { audiences: [orders, billing] } })
    const aud = async (params: Params) =>
      decodeJwt((await tokenRequest(svc, { ...GRANT, ...params })).body.access_token).aud
    expect(await aud({})).toBe(orders)
    expect(await aud({ audience: billing })).toBe(billing)
    expect(await aud({ resource: [orders, billing] })).toEqual([orders, billing])
    expectOAuthError(
      await tokenRequest(svc, { ...GRANT, audience: 'https://evil.example.com' }),
      400,
      'invalid_target',
      /is not an audience this server issues tokens for: ask for one of https:\/\/orders.internal, https:\/\/billing.internal/,
    )
    expectOAuthError(
      await tokenRequest(svc, { ...GRANT, resource: 'orders' }),
      400,
      'invalid_target',
      /absolute URI/,
    )
  })

  it('never echoes a key sent as a scope or an audience', async () => {
    const svc = await start()
    const scope = await tokenRequest(svc, { ...GRANT, scope: svc.adminKey })
    expectOAuthError(scope, 400, 'invalid_scope')
    const audience = await tokenRequest(svc, { ...GRANT, audience: svc.verifyKey })
    expectOAuthError(audience, 400, 'invalid_target')
    for (const res of [scope, audience]) {
      expect(res.text).not.toContain(svc.adminKey.slice(8, -8))
      expect(res.text).not.toContain(svc.verifyKey.slice(8, -8))
    }
  })

  it('lifetime: the setting, shortened to the key`s own expiry', async () => {
    const svc = await start({ tokens: { lifetimeSec: 60 } })
    expect((await tokenRequest(svc, GRANT)).body.expires_in).toBe(60)
    const { key } = await svc.createKey({ name: 'short', expiresInMs: 30_500 })
    const res = await tokenRequest(svc, GRANT, { key })
    expect(res.body.expires_in).toBeGreaterThanOrEqual(29)
    expect(res.body.expires_in).toBeLessThanOrEqual(30)
  })

  it('charges the key`s own rate limits: 429 with Retry-After and RateLimit fields', async () => {
    const svc = await start()
    const { key } = await svc.createKey({
      name: 'limited',
      rateLimits: [{ name: 'default', limit: 2, windowMs: 60_000 }],
    })
    const first = await tokenRequest(svc, GRANT, { key })
    expect(first.status).toBe(200)
    expect(first.headers.get('ratelimit')).toMatch(/^"default";r=1;t=\d+$/)
    expect((await tokenRequest(svc, GRANT, { key })).status).toBe(200)
    const limited = await tokenRequest(svc, GRANT, { key })
    expectOAuthError(limited, 429, 'rate_limited')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60')
  })

  it('counts bad secrets in the failed-auth limiter shared with every route', async () => {
    const svc = await start({ failedAuth: { limit: 2, windowMs: 60_000 } })
    const bad = `${svc.adminKey.slice(0, -6)}AAAAAA`
    for (let i = 0; i < 2; i++)
      expect((await tokenRequest(svc, GRANT, { key: bad })).status).toBe(401)
    const blocked = await tokenRequest(svc, GRANT)
    expectOAuthError(blocked, 429, 'rate_limited')
    expect(blocked.headers.get('retry-after')).not.toBeNull()
    // the admin API is blocked for that client too: one count
    expect((await svc.call('GET', '/v1/keys')).status).toBe(429)
  })
})

describe('the service accepts its own tokens', () => {
  it('on its routes, with scopes (admin implies keys:read) and 403 unchanged', async () => {
    const svc = await start()
    const admin = (await tokenRequest(svc, { ...GRANT, scope: 'admin' })).body.access_token
    const list = await svc.call('GET', '/v1/keys', {
      key: null,
      headers: { authorization: `Bearer ${admin}` },
    })
    expect(list.status).toBe(200)
    const verifyOnly = (await tokenRequest(svc, GRANT, { key: svc.verifyKey })).body.access_token
    const refused = await svc.call('GET', '/v1/keys', {
      key: null,
      headers: { authorization: `Bearer ${verifyOnly}` },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.code).toBe('insufficient_scope')
  })

  it('not tokens for another audience', async () => {
    const svc = await start({ tokens: { audiences: ['https://orders.internal'] } })
    const token = (await tokenRequest(svc, GRANT)).body.access_token
    const res = await svc.call('GET', '/v1/keys', {
      key: null,
      headers: { authorization: `Bearer ${token}` },
    })
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('token_invalid')
  })

  it('revoking the key ends its live tokens at once (the revocation list)', async () => {
    const svc = await start()
    const { key, id } = await svc.createKey({ name: 'ops', scopes: ['admin'] })
    const token = (await tokenRequest(svc, GRANT, { key })).body.access_token
    const call = () =>
      svc.call('GET', '/v1/keys', { key: null, headers: { authorization: `Bearer ${token}` } })
    expect((await call()).status).toBe(200)
    await svc.call('DELETE', `/v1/keys/${id}`)
    const res = await call()
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('token_revoked')
  })
})
