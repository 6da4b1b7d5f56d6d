import { describe, expect, it } from 'vitest'
import type { VerifyOptions, VerifyResult } from '../core/keyward.js'
import type { LimitDecision } from '../core/types.js'
import type { VerifiedKey } from '../core/verify-types.js'
import { createFailedAuthLimiter } from '../limits/failed-auth.js'
import { createMemoryLimiter } from '../limits/memory.js'
import { type AuthResult, createAuthenticator } from './authenticate.js'
import type { RequestView } from './credentials.js'
import type { ApiKeyOptions, DeniedEvent } from './options.js'

// The request pipeline between a framework and keyward.verify: what reaches verify, what the
// caller gets back, what onDenied hears, and where exceptions go.

const KEY: VerifiedKey = Object.freeze({
  id: 'key_a',
  name: 'a',
  ownerId: null,
  prefix: 'kw_test',
  hint: 'abcd',
  scopes: [],
  roles: [],
  metadata: {},
  expiresAt: null,
  rateLimits: [],
  quota: null,
})

/** A verifier answering from a table by credential, recording what it was asked. */
function verifier(answers: Record<string, VerifyResult> = {}) {
  const calls: [string | null | undefined, VerifyOptions | undefined][] = []
  return {
    calls,
    verify: async (credential: string | null | undefined, options?: VerifyOptions) => {
      calls.push([credential, options])
      if (credential === null || credential === undefined)
        return { ok: false, code: 'key_missing' } as const
      return answers[credential] ?? ({ ok: false, code: 'key_invalid' } as const)
    },
  }
}

function view(
  headers: Record<string, string | string[]> = {},
  rest: Partial<RequestView> = {},
): RequestView {
  return { method: 'GET', url: '/', ip: '192.0.2.1', header: (name) => headers[name], ...rest }
}

function auth<Req = object>(options: Omit<ApiKeyOptions<Req>, 'keyward'>, keyward = verifier()) {
  return { keyward, auth: createAuthenticator<Req>({ keyward, ...options }) }
}

describe('authenticate: what reaches verify', () => {
  it('the credential, the scopes and the client address', async () => {
    const { keyward, auth: a } = auth({ scopes: ['orders:read'] })
    await a.authenticate(view({ 'x-api-key': 'k1' }), {})
    await a.authenticate(view({ 'x-api-key': 'k1' }), {}, ['orders:write'])
    await a.authenticate(view({}, { ip: undefined }), {})
    expect(keyward.calls).toEqual([
      ['k1', { scopes: ['orders:read'], ip: '192.0.2.1' }],
      ['k1', { scopes: ['orders:write'], ip: '192.0.2.1' }],
      [null, { scopes: ['orders:read'] }],
    ])
  })

  it('the cost of the request, when there is a cost hook', async () => {
    const { keyward, auth: a } = auth<{ units: number }>({ cost: (req) => req.units })
    await a.authenticate(view({ 'x-api-key': 'k1' }), { units: 3 })
    expect(keyward.calls[0]![1]).toEqual({ scopes: [], ip: '192.0.2.1', cost: 3 })
  })

  it('the Idempotency-Key and the operation on POST and PATCH only', async () => {
    const { keyward, auth: a } = auth({})
    const headers = { 'x-api-key': 'k1', 'idempotency-key': 'order-1' }
    await a.authenticate(view(headers, { method: 'POST', url: '/orders?a=1' }), {})
    await a.authenticate(view(headers, { method: 'GET', url: '/orders' }), {})
    await a.authenticate(view({ 'x-api-key': 'k1' }, { method: 'POST', url: '/orders' }), {})
    expect(keyward.calls.map(([, o]) => o)).toEqual([
      { scopes: [], ip: '192.0.2.1', idempotencyKey: 'order-1', operation: 'POST /orders?a=1' },
      { scopes: [], ip: '192.0.2.1' },
      { scopes: [], ip: '192.0.2.1' },
    ])
  })

  it('an operation without the credential query parameter, when the query source is on', async () => {
    const { keyward, auth: a } = auth({ sources: ['query'], logger: { warn() {} } })
    const headers = { 'idempotency-key': 'order-1' }
    await a.authenticate(view(headers, { method: 'POST', url: '/orders?api_key=k1&a=1' }), {})
    expect(keyward.calls[0]).toEqual([
      'k1',
      { scopes: [], ip: '192.0.2.1', idempotencyKey: 'order-1', operation: 'POST /orders?a=1' },
    ])
  })

  it('no Idempotency-Key when its body cannot be fingerprinted', async () => {
    const { keyward, auth: a } = auth({})
    const circular: { self?: unknown } = {}
    circular.self = circular
    const headers = { 'x-api-key': 'k1', 'idempotency-key': 'order-1' }
    await a.authenticate(view(headers, { method: 'POST', body: circular }), {})
    expect(keyward.calls[0]![1]).toEqual({ scopes: [], ip: '192.0.2.1' })
  })

  it('the cost but no Idempotency-Key when its body cannot be fingerprinted', async () => {
    const { keyward, auth: a } = auth({ cost: () => 2 })
    const circular: { self?: unknown } = {}
    circular.self = circular
    const headers = { 'x-api-key': 'k1', 'idempotency-key': 'order-1' }
    await a.authenticate(view(headers, { method: 'POST', body: circular }), {})
    // strict: an idempotencyKey without its operation must not reach verify at all
    expect(keyward.calls[0]![1]).toStrictEqual({ scopes: [], ip: '192.0.2.1', cost: 2 })
  })

  it('the address getClientIp names, behind trusted proxies', async () => {
    const { keyward, auth: a } = auth<{ peer: string }>({
      getClientIp: (req) => req.peer,
      trustedProxies: ['10.0.0.0/8'],
    })
    const forwarded = { 'x-forwarded-for': '198.51.100.7' }
    await a.authenticate(view(forwarded), { peer: '10.0.0.1' })
    expect(keyward.calls[0]![1]).toEqual({ scopes: [], ip: '198.51.100.7' })
  })
})

describe('authenticate: what the caller gets', () => {
  it('a key without limits as verify gave it, with limits plus the RateLimit fields', async () => {
    const limited: LimitDecision = {
      allowed: true,
      policies: [
        { kind: 'rate', name: 'default', limit: 5, windowMs: 1000, remaining: 4, resetMs: 200 },
      ],
    }
    const plain: VerifyResult = { ok: true, key: KEY }
    const keyward = verifier({ plain, limited: { ok: true, key: KEY, rateLimit: limited } })
    const { auth: a } = auth({}, keyward)
    expect(await a.authenticate(view({ 'x-api-key': 'plain' }), {})).toBe(plain)
    expect(await a.authenticate(view({ 'x-api-key': 'limited' }), {})).toEqual({
      ok: true,
      key: KEY,
      rateLimit: limited,
      headers: { 'ratelimit-policy': '"default";q=5;w=1', ratelimit: '"default";r=4;t=1' },
    })
  })

  it('a refusal by the limiter with its RateLimit fields', async () => {
    const rateLimit: LimitDecision = {
      allowed: false,
      code: 'rate_limited',
      retryAfterMs: 1500,
      policies: [
        { kind: 'rate', name: 'default', limit: 5, windowMs: 1000, remaining: 0, resetMs: 1500 },
      ],
    }
    const keyward = verifier({
      k: { ok: false, code: 'rate_limited', keyId: 'key_a', retryAfterSeconds: 2, rateLimit },
    })
    const result = await auth({}, keyward).auth.authenticate(view({ 'x-api-key': 'k' }), {})
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.code).toBe('rate_limited')
    expect(result.response.status).toBe(429)
    expect(result.response.headers).toMatchObject({
      'retry-after': '2',
      ratelimit: '"default";r=0;t=2',
    })
  })

  it('a CORS preflight through unauthenticated, unless preflight is authenticate', async () => {
    const preflight = view({ 'access-control-request-method': 'POST' }, { method: 'OPTIONS' })
    const pass = auth({})
    expect(await pass.auth.authenticate(preflight, {})).toEqual({
      ok: true,
      key: null,
      preflight: true,
    })
    expect(pass.keyward.calls).toEqual([])
    const strict = auth({ preflight: 'authenticate' })
    expect((await strict.auth.authenticate(preflight, {})).ok).toBe(false)
    expect(strict.keyward.calls).toHaveLength(1)
  })

  it('431 without reading any credential when header lines were dropped', async () => {
    const events: DeniedEvent[] = []
    const { keyward, auth: a } = auth({ onDenied: (e) => events.push(e) })
    const result = await a.authenticate(view({ 'x-api-key': 'k' }, { headersTruncated: true }), {})
    expect(result).toMatchObject({ ok: false, code: 'headers_truncated' })
    expect(keyward.calls).toEqual([])
    expect(events[0]).toMatchObject({ code: 'headers_truncated', credentialPresented: false })
  })

  it('400 for two credentials, without asking verify', async () => {
    const { keyward, auth: a } = auth({})
    const result = await a.authenticate(view({ 'x-api-key': 'a', authorization: 'Bearer b' }), {})
    expect(result).toMatchObject({ ok: false, code: 'key_ambiguous', response: { status: 400 } })
    expect(keyward.calls).toEqual([])
  })
})

describe('authenticate: onDenied', () => {
  it('hears each denial with what is known about it, and the request', async () => {
    const cause = new Error('ECONNREFUSED')
    const keyward = verifier({
      revoked: { ok: false, code: 'key_revoked', keyId: 'key_r' },
      scope: { ok: false, code: 'insufficient_scope', keyId: 'key_s', missingScopes: ['a:b'] },
      down: { ok: false, code: 'store_unavailable', retryAfterSeconds: 5, cause },
    })
    const events: [DeniedEvent, unknown][] = []
    const { auth: a } = auth(
      { onDenied: (e, req) => events.push([e, req]), clock: { now: () => 1234 } },
      keyward,
    )
    const req = { id: 1 }
    await a.authenticate(view({ 'x-api-key': 'revoked' }), req)
    await a.authenticate(view({ 'x-api-key': 'scope' }), req)
    await a.authenticate(view({ 'x-api-key': 'down' }), req)
    await a.authenticate(view({}), req)
    expect(events).toEqual([
      [
        { code: 'key_revoked', status: 401, credentialPresented: true, at: 1234, keyId: 'key_r' },
        req,
      ],
      [
        {
          code: 'insufficient_scope',
          status: 403,
          credentialPresented: true,
          at: 1234,
          keyId: 'key_s',
          missingScopes: ['a:b'],
        },
        req,
      ],
      [
        {
          code: 'store_unavailable',
          status: 503,
          credentialPresented: true,
          at: 1234,
          retryAfterSeconds: 5,
          cause,
        },
        req,
      ],
      [{ code: 'key_missing', status: 401, credentialPresented: false, at: 1234 }, req],
    ])
    for (const [event] of events) {
      for (const name of ['keyId', 'missingScopes', 'retryAfterSeconds', 'cause'] as const) {
        if (event[name] === undefined) expect(event).not.toHaveProperty(name)
      }
    }
  })
})

describe('authenticate: failed authentications', () => {
  function guarded() {
    let now = 0
    const clock = { now: () => now }
    const keyward = verifier({
      good: { ok: true, key: KEY },
      revoked: { ok: false, code: 'key_revoked', keyId: 'key_r' },
      forged: { ok: false, code: 'token_invalid' },
    })
    const { auth: a } = auth({ failedAuth: { limit: 2, windowMs: 60_000 }, clock }, keyward)
    const get = (credential?: string) =>
      a.authenticate(view(credential === undefined ? {} : { 'x-api-key': credential }), {})
    return { keyward, get, advance: (ms: number) => (now += ms) }
  }

  it('tells onDenied whether a blocked or an ambiguous request carried a credential', async () => {
    const events: DeniedEvent[] = []
    const clock = { now: () => 0 }
    const onDenied = (e: DeniedEvent) => events.push(e)
    const { auth: a } = auth({ failedAuth: { limit: 1, windowMs: 60_000 }, clock, onDenied })
    await a.authenticate(view({ 'x-api-key': 'wrong' }), {})
    await a.authenticate(view({ 'x-api-key': 'again' }), {})
    await a.authenticate(view({}), {})
    // another client, not blocked
    const two = { 'x-api-key': 'a', authorization: 'Bearer b' }
    await a.authenticate(view(two, { ip: '198.51.100.9' }), {})
    expect(events.map((e) => [e.code, e.credentialPresented])).toEqual([
      ['key_invalid', true],
      ['rate_limited', true],
      ['rate_limited', false],
      ['key_ambiguous', true],
    ])
  })

  it('counts wrong keys and forged tokens, then answers 429 without asking verify', async () => {
    const { keyward, get, advance } = guarded()
    await get('wrong')
    await get('forged')
    const calls = keyward.calls.length
    const blocked = await get('good')
    expect(blocked).toMatchObject({ ok: false, code: 'rate_limited' })
    if (blocked.ok) return
    expect(blocked.response.headers['retry-after']).toBe('30')
    expect(keyward.calls).toHaveLength(calls)
    advance(30_000)
    expect((await get('good')).ok).toBe(true)
  })

  it('does not count missing, revoked or valid keys', async () => {
    const { get } = guarded()
    for (let i = 0; i < 3; i++) {
      await get()
      await get('revoked')
      await get('good')
    }
    expect((await get('good')).ok).toBe(true)
  })

  it('still verifies when the failed-auth limiter fails', async () => {
    const broken = createFailedAuthLimiter({
      limiter: {
        kind: 'broken',
        consume: () => Promise.reject(new Error('down')),
        reset: async () => {},
        close: async () => {},
      },
    })
    const keyward = verifier({ good: { ok: true, key: KEY } })
    const { auth: a } = auth({ failedAuth: broken }, keyward)
    expect((await a.authenticate(view({ 'x-api-key': 'good' }), {})).ok).toBe(true)
  })

  it('answers 429 with a second of Retry-After when the limiter gives no wait', async () => {
    const limiter = createMemoryLimiter()
    const failedAuth = createFailedAuthLimiter({ limiter, limit: 1 })
    const blockedNoWait = {
      ...failedAuth,
      check: async () => ({ blocked: true }),
    }
    const { auth: a } = auth({ failedAuth: blockedNoWait })
    const result = await a.authenticate(view({ 'x-api-key': 'k' }), {})
    expect(result).toMatchObject({ ok: false, code: 'rate_limited' })
    if (!result.ok) expect(result.response.headers['retry-after']).toBe('1')
  })
})

describe('authenticate: usageTag', () => {
  it('passes a fixed tag to verify, and hands a throwing tag function to the caller', async () => {
    const { keyward, auth: a } = auth({ usageTag: 'orders' })
    await a.authenticate(view({ 'x-api-key': 'k' }), {})
    expect(keyward.calls).toEqual([['k', { scopes: [], ip: '192.0.2.1', usageTag: 'orders' }]])
    const { auth: b } = auth({
      usageTag: () => {
        throw new Error('tag boom')
      },
    })
    await expect(b.authenticate(view({ 'x-api-key': 'k' }), {})).rejects.toThrow('tag boom')
  })
})

describe('authenticate: getCredential', () => {
  it('takes its string, falls back to the sources on null, and awaits a promise', async () => {
    const { keyward, auth: a } = auth<{ c: string | null | Promise<string | null> }>({
      getCredential: (req) => req.c,
    })
    await a.authenticate(view({ 'x-api-key': 'header' }), { c: 'custom' })
    await a.authenticate(view({ 'x-api-key': 'header' }), { c: null })
    await a.authenticate(view({ 'x-api-key': 'header' }), { c: Promise.resolve('later') })
    await a.authenticate(view({ 'x-api-key': 'header' }), { c: Promise.resolve(null) })
    expect(keyward.calls.map(([c]) => c)).toEqual(['custom', 'header', 'later', 'header'])
  })

  it('answers a synchronous getter in the same call when verify needs no I/O', () => {
    // run's contract: done runs synchronously when nothing has to be awaited
    const keyward = {
      calls: [],
      verify: async () => ({ ok: false, code: 'key_missing' }) as const,
      verifyCached: () => ({ ok: false, code: 'key_missing' }) as const,
    }
    const { auth: a } = auth<object>({ getCredential: () => null }, keyward as never)
    const results: AuthResult[] = []
    a.run(
      view(),
      {},
      [],
      (r) => results.push(r),
      () => {},
    )
    expect(results).toEqual([expect.objectContaining({ ok: false, code: 'key_missing' })])
  })

  it('rejects when a request view throws', async () => {
    const { auth: a } = auth({})
    const broken = view(
      {},
      {
        header: () => {
          throw new Error('view boom')
        },
      },
    )
    await expect(a.authenticate(broken, {})).rejects.toThrow('view boom')
  })

  it('hands its exceptions and rejections to the caller', async () => {
    const { auth: a } = auth<{ c: () => string | Promise<string> }>({
      getCredential: (req) => req.c(),
    })
    await expect(
      a.authenticate(view(), {
        c: () => {
          throw new Error('sync boom')
        },
      }),
    ).rejects.toThrow('sync boom')
    await expect(
      a.authenticate(view(), { c: () => Promise.reject(new Error('async boom')) }),
    ).rejects.toThrow('async boom')
  })
})

describe('run: exceptions of the hooks reach fail', () => {
  function runOnce<Req>(
    options: Omit<ApiKeyOptions<Req>, 'keyward'>,
    keyward: ReturnType<typeof verifier> | (ReturnType<typeof verifier> & object),
    v: RequestView,
    req: Req,
  ): Promise<{ done?: AuthResult; failed?: unknown }> {
    const a = createAuthenticator<Req>({ keyward, ...options })
    return new Promise((resolve) =>
      a.run(
        v,
        req,
        [],
        (done) => resolve({ done }),
        (failed) => resolve({ failed }),
      ),
    )
  }

  it('a throwing cost hook, getClientIp or onDenied', async () => {
    const boom = () => {
      throw new Error('boom')
    }
    const key = view({ 'x-api-key': 'k' })
    for (const options of [{ cost: boom }, { getClientIp: boom }, { onDenied: boom }]) {
      const result = await runOnce(options, verifier(), key, {})
      expect(result.failed).toEqual(new Error('boom'))
    }
  })

  it('a throwing onDenied after a cached answer or a blocked client', async () => {
    const boom = () => {
      throw new Error('boom')
    }
    const cached = {
      ...verifier(),
      verifyCached: () => ({ ok: false, code: 'key_revoked' }) as const,
    }
    expect(
      (await runOnce({ onDenied: boom }, cached, view({ 'x-api-key': 'k' }), {})).failed,
    ).toEqual(new Error('boom'))
    const failedAuth = createFailedAuthLimiter({ limit: 1 })
    await failedAuth.recordFailure('192.0.2.1')
    expect(
      (await runOnce({ onDenied: boom, failedAuth }, verifier(), view({ 'x-api-key': 'k' }), {}))
        .failed,
    ).toEqual(new Error('boom'))
  })

  it('answers synchronously from verifyCached, without calling verify', () => {
    const keyward = {
      ...verifier(),
      verifyCached: () => ({ ok: true, key: KEY }) as const,
    }
    const a = createAuthenticator({ keyward })
    let result: AuthResult | undefined
    a.run(
      view({ 'x-api-key': 'k' }),
      {},
      [],
      (r) => {
        result = r
      },
      () => {},
    )
    expect(result).toEqual({ ok: true, key: KEY })
    expect(keyward.calls).toEqual([])
  })

  it('a rejecting verify', async () => {
    const keyward = { calls: [], verify: () => Promise.reject(new Error('verify down')) }
    const result = await runOnce({}, keyward as never, view({ 'x-api-key': 'k' }), {})
    expect(result.failed).toEqual(new Error('verify down'))
  })
})
