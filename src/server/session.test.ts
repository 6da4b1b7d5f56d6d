// Dashboard sessions over real HTTP: sign-in with an admin key, the cookie, CSRF, expiry,
// sign-out, and the key's current state judged on every call.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { keyHint } from '../core/key-format.js'
import { type CallOptions, startService, type TestService } from '../../test/helpers/service.js'

let clockMs = Date.UTC(2026, 5, 1)
const clock = { now: () => clockMs }
let svc: TestService

beforeAll(async () => {
  svc = await startService({
    keyward: { clock },
    service: { dashboard: { clock, sessionIdleMs: 60_000, sessionMaxMs: 600_000 } },
  })
})
afterAll(() => svc.close())
afterEach(() => svc.expectNoSecretLeaked())

interface Session {
  cookie: string
  csrf: string
  setCookie: string
  body: Record<string, unknown>
}

async function signIn(key: string, extra: CallOptions = {}): Promise<Session> {
  const res = await svc.call('POST', '/dashboard/api/session', {
    key: null,
    headers: { authorization: `Bearer ${key}` },
    ...extra,
  })
  expect(res.status).toBe(201)
  const setCookie = res.headers.get('set-cookie')!
  return {
    setCookie,
    cookie: setCookie.split(';')[0]!,
    csrf: res.body.csrfToken as string,
    body: res.body,
  }
}

/** A call with the session's cookie (and its CSRF token unless told otherwise), no key. */
function withSession(s: Session, headers: Record<string, string> = {}, csrf = true): CallOptions {
  return {
    key: null,
    headers: { cookie: s.cookie, ...(csrf ? { 'x-keyward-csrf': s.csrf } : {}), ...headers },
  }
}

describe('sign-in', () => {
  it('exchanges an admin key for an HttpOnly, SameSite=Strict cookie; the answer holds no secret', async () => {
    const s = await signIn(svc.adminKey)
    expect(s.setCookie).toMatch(
      /^keyward_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=600; HttpOnly; SameSite=Strict$/,
    )
    expect(s.body).toMatchObject({
      keyId: svc.adminId,
      name: 'test admin',
      hint: keyHint(svc.adminKey),
    })
    expect(s.body.scopes).toContain('keys:write')
    expect(JSON.stringify(s.body)).not.toContain(svc.adminKey.slice(10, -10))
    const list = await svc.call('GET', '/v1/keys', withSession(s, {}, false))
    expect(list.status).toBe(200)
    expect(list.body.items.length).toBeGreaterThan(0)
  })

  it('refuses a wrong key, a key without keys:read and a revoked key, with no cookie', async () => {
    const wrong = await svc.call('POST', '/dashboard/api/session', {
      key: null,
      headers: {
        authorization: 'Bearer kw_live_0000000000000000000000000000000000000000000000000',
      },
    })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('set-cookie')).toBeNull()
    const verifyOnly = await svc.call('POST', '/dashboard/api/session', {
      key: null,
      headers: { authorization: `Bearer ${svc.verifyKey}` },
    })
    expect(verifyOnly.status).toBe(403)
    expect(verifyOnly.body.code).toBe('insufficient_scope')
    const revoked = await svc.createKey({ name: 'gone', scopes: ['admin'] })
    await svc.keyward.revokeKey(revoked.id)
    const res = await svc.call('POST', '/dashboard/api/session', {
      key: null,
      headers: { authorization: `Bearer ${revoked.key}` },
    })
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('key_revoked')
    expect(res.headers.get('set-cookie')).toBeNull()
  })

  it('a session cannot start another one: sign-in needs the key itself', async () => {
    const s = await signIn(svc.adminKey)
    const res = await svc.call('POST', '/dashboard/api/session', withSession(s))
    expect(res.status).toBe(400)
    expect(res.body.detail).toMatch(/Authorization header/)
  })

  it('a request with a key is authenticated by the key, whatever cookie it carries', async () => {
    const s = await signIn(svc.adminKey)
    const res = await svc.call('GET', '/v1/roles', {
      key: svc.verifyKey,
      headers: { cookie: s.cookie },
    })
    expect(res.status).toBe(403)
  })
})

describe('CSRF', () => {
  it('refuses a state-changing call with the cookie but without the CSRF header, and changes nothing', async () => {
    const s = await signIn(svc.adminKey)
    const before = (await svc.keyward.listKeys({ limit: 1000 })).items.length
    const cases: [string, Record<string, string>, boolean][] = [
      ['no header', {}, false],
      ['a wrong token', { 'x-keyward-csrf': 'x'.repeat(32) }, false],
      ['another site', { 'sec-fetch-site': 'cross-site' }, true],
      ['another origin', { origin: 'https://evil.example' }, true],
    ]
    for (const [what, headers, csrf] of cases) {
      const res = await svc.call('POST', '/v1/keys', {
        ...withSession(s, headers, csrf),
        body: { name: what },
      })
      expect({ what, status: res.status, code: res.body.code }).toEqual({
        what,
        status: 403,
        code: 'csrf_rejected',
      })
    }
    expect((await svc.keyward.listKeys({ limit: 1000 })).items.length).toBe(before)
    const ok = await svc.call('POST', '/v1/keys', {
      ...withSession(s, { 'sec-fetch-site': 'same-origin', origin: svc.url }),
      body: { name: 'made in the dashboard' },
    })
    expect(ok.status).toBe(201)
    // the audit names the admin key behind the session
    const events = await svc.keyward.listAudit({ keyId: ok.body.id })
    expect(events[0]?.actor).toBe(svc.adminId)
  })

  it('needs no CSRF header to read', async () => {
    const s = await signIn(svc.adminKey)
    expect(
      (await svc.call('GET', `/v1/keys/${svc.adminId}`, withSession(s, {}, false))).status,
    ).toBe(200)
  })
})

describe('the key behind a session', () => {
  it("keeps the route's scopes: a keys:read key's session cannot create keys", async () => {
    const reader = await svc.createKey({ name: 'reader', scopes: ['keys:read'] })
    const s = await signIn(reader.key)
    const res = await svc.call('POST', '/v1/keys', { ...withSession(s), body: { name: 'x' } })
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('insufficient_scope')
  })

  it('a revoked admin key ends its sessions at the next call, even one still in the cache', async () => {
    const admin = await svc.createKey({ name: 'soon revoked', scopes: ['admin'] })
    const s = await signIn(admin.key)
    expect((await svc.call('GET', '/v1/keys', { key: admin.key })).status).toBe(200)
    // revoked by another admin, through the API
    expect((await svc.call('DELETE', `/v1/keys/${admin.id}`)).status).toBe(200)
    const res = await svc.call('GET', '/v1/keys', withSession(s))
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('key_revoked')
    // ended, not only refused: it answers as no session at all now
    const again = await svc.call('GET', '/dashboard/api/session', withSession(s))
    expect(again.body.code).toBe('key_missing')
  })

  it('a rotation whose grace period ended ends the sessions of the old secret', async () => {
    const admin = await svc.createKey({ name: 'rotated', scopes: ['admin'] })
    const s = await signIn(admin.key)
    const rotated = await svc.call('POST', `/v1/keys/${admin.id}/rotate`, {
      body: { gracePeriod: '0s' },
    })
    expect(rotated.status).toBe(200)
    const res = await svc.call('GET', '/v1/keys', withSession(s))
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('key_expired')
    // the new secret signs in
    await signIn(rotated.body.key)
  })
})

describe('expiry and sign-out', () => {
  it('ends a session unused for the idle time; use keeps it alive', async () => {
    const s = await signIn(svc.adminKey)
    clockMs += 50_000
    expect((await svc.call('GET', '/dashboard/api/session', withSession(s))).status).toBe(200)
    clockMs += 50_000
    expect((await svc.call('GET', '/dashboard/api/session', withSession(s))).status).toBe(200)
    clockMs += 60_000
    const res = await svc.call('GET', '/v1/keys', withSession(s))
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('key_missing')
  })

  it('ends a session at its absolute end, however busy', async () => {
    const s = await signIn(svc.adminKey)
    for (let i = 0; i < 11; i++) {
      clockMs += 50_000
      expect((await svc.call('GET', '/dashboard/api/session', withSession(s))).status).toBe(200)
    }
    clockMs += 50_000
    expect((await svc.call('GET', '/dashboard/api/session', withSession(s))).status).toBe(401)
  })

  it('signs out: the cookie is deleted and no longer works', async () => {
    const s = await signIn(svc.adminKey)
    const out = await svc.call('DELETE', '/dashboard/api/session', withSession(s))
    expect(out.status).toBe(204)
    expect(out.headers.get('set-cookie')).toBe(
      'keyward_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict',
    )
    expect((await svc.call('GET', '/v1/keys', withSession(s))).status).toBe(401)
  })

  it('sign-out is state-changing: it needs the CSRF header', async () => {
    const s = await signIn(svc.adminKey)
    const res = await svc.call('DELETE', '/dashboard/api/session', withSession(s, {}, false))
    expect(res.status).toBe(403)
    expect((await svc.call('GET', '/dashboard/api/session', withSession(s))).status).toBe(200)
  })
})

describe('over HTTPS', () => {
  it('the cookie is Secure and bound to the host (__Host- prefix)', async () => {
    const secure = await startService({ service: { dashboard: { secureCookies: true } } })
    try {
      const res = await secure.call('POST', '/dashboard/api/session', {
        key: null,
        headers: { authorization: `Bearer ${secure.adminKey}` },
      })
      const setCookie = res.headers.get('set-cookie')!
      expect(setCookie).toMatch(
        /^__Host-keyward_session=[^;]+; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict; Secure$/,
      )
      const cookie = setCookie.split(';')[0]!
      expect(
        (await secure.call('GET', '/v1/keys', { key: null, headers: { cookie } })).status,
      ).toBe(200)
      // the plain-HTTP name means nothing there
      const plain = cookie.replace('__Host-', '')
      expect(
        (await secure.call('GET', '/v1/keys', { key: null, headers: { cookie: plain } })).status,
      ).toBe(401)
    } finally {
      await secure.close()
    }
  })
})

describe('without the dashboard', () => {
  it('dashboard: false serves no /dashboard and takes no cookie', async () => {
    const bare = await startService({ service: { dashboard: false } })
    try {
      expect((await bare.call('GET', '/dashboard/', { key: null })).status).toBe(401)
      expect((await bare.call('GET', '/dashboard/', { key: bare.adminKey })).status).toBe(404)
      expect(
        (await bare.call('POST', '/dashboard/api/session', { key: bare.adminKey })).status,
      ).toBe(404)
    } finally {
      await bare.close()
    }
  })
})
