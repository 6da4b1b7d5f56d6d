import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  recordingClient,
  startTarget,
  type Target,
  watchForLeaks,
} from '../../test/client/servers.js'
import { type ClientOptions, type RetryEvent, TokenRequestError } from './index.js'

// Token lifetimes are 60 s; the tests move Date (client and issuer alike) instead of waiting.
// Only Date is faked: timers and sockets run for real.
let target: Target
let watch: ReturnType<typeof watchForLeaks>
let events: RetryEvent[]
let rejection: (promise: Promise<unknown>) => Promise<TokenRequestError>

beforeAll(async () => {
  target = await startTarget({ tokenLifetimeS: 60 })
  // neither the key nor any token leaves in a URL, an onRetry event or an error message
  watch = watchForLeaks(target, () => [target.key, ...target.issuer.issued])
  events = watch.events
  rejection = watch.rejection
})
afterAll(async () => {
  await target.close()
})
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true })
})
afterEach(() => {
  vi.useRealTimers()
  watch.checkAndReset()
})

const client = (options: Partial<ClientOptions> = {}) =>
  recordingClient(events, {
    apiKey: target.key,
    baseUrl: target.api.baseUrl,
    token: { url: target.issuer.tokenUrl },
    retry: { baseDelayMs: 1 },
  })(options)

const bearerOf = (i: number) => target.api.seen[i]?.headers.authorization
const latestToken = () => target.issuer.issued.at(-1)
const fifty = (api: ReturnType<typeof client>) =>
  Promise.all(Array.from({ length: 50 }, (_, i) => api.fetch(`/orders/${i}`).then((r) => r.status)))

describe('token mode', () => {
  it('trades the key for a token by client credentials and sends it as Bearer, never the key', async () => {
    const api = client({
      token: {
        url: target.issuer.tokenUrl,
        scope: ['orders:read', 'orders:write'],
        audience: 'orders',
      },
    })
    expect((await api.fetch('/orders')).status).toBe(200)
    const [tokenRequest] = target.issuer.tokenRequests
    expect(tokenRequest?.method).toBe('POST')
    expect(tokenRequest?.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(tokenRequest?.headers['x-api-key']).toBe(target.key)
    expect(tokenRequest?.headers.authorization).toBeUndefined()
    expect(Object.fromEntries(new URLSearchParams(tokenRequest?.body))).toEqual({
      grant_type: 'client_credentials',
      scope: 'orders:read orders:write',
      audience: 'orders',
    })
    expect(bearerOf(0)).toBe(`Bearer ${latestToken()}`)
    expect(target.api.seen[0]?.headers['x-api-key']).toBeUndefined()
  })

  it('with clientId, sends the key as the client secret by Basic auth', async () => {
    const api = client({
      token: { url: target.issuer.tokenUrl, clientId: target.keyId, resource: 'https://orders' },
    })
    expect((await api.fetch('/orders')).status).toBe(200)
    const [tokenRequest] = target.issuer.tokenRequests
    expect(tokenRequest?.headers['x-api-key']).toBeUndefined()
    expect(tokenRequest?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${target.keyId}:${target.key}`).toString('base64')}`,
    )
    expect(new URLSearchParams(tokenRequest?.body).get('resource')).toBe('https://orders')
  })

  it('50 concurrent calls, then 50 more after the token expired: exactly one token request each time', async () => {
    const api = client()
    expect(await fifty(api)).toEqual(Array(50).fill(200))
    expect(target.issuer.tokenRequests).toHaveLength(1)
    const first = latestToken()
    expect(target.api.seen.every((r) => r.headers.authorization === `Bearer ${first}`)).toBe(true)

    vi.setSystemTime(Date.now() + 61_000)
    target.api.seen.length = 0
    expect(await fifty(api)).toEqual(Array(50).fill(200))
    expect(target.issuer.tokenRequests).toHaveLength(2)
    const second = latestToken()
    expect(second).not.toBe(first)
    expect(target.api.seen.every((r) => r.headers.authorization === `Bearer ${second}`)).toBe(true)
    expect(events).toHaveLength(0)
  })

  it('shortly before expiry, calls keep the valid token while one replacement is fetched', async () => {
    const api = client()
    await api.fetch('/warm')
    const first = latestToken()
    const issued = target.issuer.issued.length
    // default refresh window: 10 % of 60 s, i.e. from 54 s on
    vi.setSystemTime(Date.now() + 55_000)
    target.api.seen.length = 0
    expect(await fifty(api)).toEqual(Array(50).fill(200))
    expect(target.api.seen.every((r) => r.headers.authorization === `Bearer ${first}`)).toBe(true)
    await until(() => target.issuer.issued.length === issued + 1)
    await api.fetch('/after')
    expect(target.api.seen.at(-1)?.headers.authorization).toBe(`Bearer ${latestToken()}`)
    expect(target.issuer.tokenRequests).toHaveLength(2)
  })

  it('refreshBeforeMs moves the refresh earlier', async () => {
    const api = client({ token: { url: target.issuer.tokenUrl, refreshBeforeMs: 20_000 } })
    await api.fetch('/warm')
    vi.setSystemTime(Date.now() + 41_000) // the default would wait until 54 s
    await api.fetch('/a')
    await until(() => target.issuer.tokenRequests.length === 2)
  })

  it('refreshBeforeMs is capped at half the lifetime (a larger one would refresh on every call)', async () => {
    const api = client({ token: { url: target.issuer.tokenUrl, refreshBeforeMs: 50_000 } })
    await api.fetch('/warm')
    vi.setSystemTime(Date.now() + 20_000)
    await api.fetch('/a')
    await new Promise((resolve) => setTimeout(resolve, 50)) // room for a refresh that must not start
    expect(target.issuer.tokenRequests).toHaveLength(1)
    vi.setSystemTime(Date.now() + 11_000)
    await api.fetch('/b')
    await until(() => target.issuer.tokenRequests.length === 2)
  })

  it('without expires_in, a token is kept 60 s', async () => {
    target.issuer.queue('/oauth/token', {
      status: 200,
      body: JSON.stringify({ access_token: 'opaque', token_type: 'Bearer' }),
    })
    // answered by script: the API does not know this token, and need not
    target.api.queue('/a', { status: 200 })
    target.api.queue('/b', { status: 200 })
    target.api.queue('/c', { status: 200 })
    const api = client()
    await api.fetch('/a')
    vi.setSystemTime(Date.now() + 50_000)
    await api.fetch('/b')
    expect(target.issuer.tokenRequests).toHaveLength(1)
    vi.setSystemTime(Date.now() + 11_000)
    await api.fetch('/c')
    expect(target.issuer.tokenRequests).toHaveLength(2)
  })

  it('a failed early refresh keeps the valid token and waits half its remaining life before trying again', async () => {
    const api = client({ retry: false })
    await api.fetch('/warm')
    const issued = target.issuer.issued.length
    vi.setSystemTime(Date.now() + 55_000)
    target.issuer.queue('/oauth/token', { status: 500, body: 'oops' })
    expect((await api.fetch('/a')).status).toBe(200)
    await until(() => target.issuer.tokenRequests.length === 2)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect((await api.fetch('/b')).status).toBe(200)
    expect(target.issuer.tokenRequests).toHaveLength(2) // no retry storm
    vi.setSystemTime(Date.now() + 3_000) // past 55 + 5/2 s
    expect((await api.fetch('/c')).status).toBe(200)
    await until(() => target.issuer.issued.length === issued + 1)
    expect(target.issuer.tokenRequests).toHaveLength(3)
  })

  it('a 401 to a cached token gets one new token and one retry, for 50 concurrent calls', async () => {
    const api = client()
    await api.fetch('/warm')
    target.issuer.revokeTokens()
    target.api.seen.length = 0
    expect(await fifty(api)).toEqual(Array(50).fill(200))
    expect(target.issuer.tokenRequests).toHaveLength(2)
    expect(target.api.seen).toHaveLength(100)
    expect(events.map((e) => [e.reason, e.status, e.delayMs])).toEqual(
      Array(50).fill(['unauthorized', 401, 0]),
    )
  })

  it('a late 401 to a replaced token does not drop its replacement', async () => {
    const api = client()
    await api.fetch('/warm')
    target.issuer.revokeTokens()
    target.api.queue('/late', { status: 401, delayMs: 300 })
    const late = api.fetch('/late')
    expect((await api.fetch('/now')).status).toBe(200) // 401, new token, 200
    expect((await late).status).toBe(200) // its 401 came after the new token: retried with it
    expect(target.issuer.tokenRequests).toHaveLength(2)
  })

  it('a second 401 in a row is returned (one refresh per call)', async () => {
    const api = client()
    target.api.queue('/orders', { status: 401 }, { status: 401 })
    expect((await api.fetch('/orders')).status).toBe(401)
    expect(target.api.seen).toHaveLength(2)
    expect(target.issuer.tokenRequests).toHaveLength(2)
  })

  it('a 401 to a streamed body is returned, since the body cannot be sent again', async () => {
    const api = client()
    await api.fetch('/warm')
    target.issuer.revokeTokens()
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('x'))
        controller.close()
      },
    })
    const res = await api.fetch('/upload', { method: 'PUT', body, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(401)
    expect(target.api.seen).toHaveLength(2)
  })

  it('retries a 503 from the token endpoint', async () => {
    target.issuer.queue('/oauth/token', { status: 503, headers: { 'retry-after': '0' } })
    expect((await client().fetch('/orders')).status).toBe(200)
    expect(events.map((e) => [e.target, e.status])).toEqual([['token', 503]])
    expect(events[0]?.url).toBe(target.issuer.tokenUrl)
  })
})

describe('token endpoint errors', () => {
  it('invalid_client: a TokenRequestError with the RFC 6749 code, and no call to the API', async () => {
    const error = await rejection(client({ apiKey: 'kw_test_notTheRightKey' }).fetch('/orders'))
    expect(error).toBeInstanceOf(TokenRequestError)
    expect(error.code).toBe('token_request_failed')
    expect(error.status).toBe(401)
    expect(error.oauthError).toBe('invalid_client')
    expect(error.message).toBe(
      `token endpoint ${target.issuer.tokenUrl} answered 401 invalid_client: unknown client (check the API key: it is wrong, revoked or expired)`,
    )
    expect(target.api.seen).toHaveLength(0)
  })

  it('a description that echoes the key is shown without it', async () => {
    target.issuer.queue('/oauth/token', {
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        error: 'invalid_scope',
        error_description: `scope refused for ${target.key}\n!`,
      }),
    })
    const error = await rejection(client().fetch('/orders'))
    expect(error.oauthError).toBe('invalid_scope')
    expect(error.message).toBe(
      `token endpoint ${target.issuer.tokenUrl} answered 400 invalid_scope: scope refused for [key] ! (ask only for scopes the key has ("token.scope"))`,
    )
  })

  it.each([
    [{ status: 502, body: '<html>bad gateway</html>' }, /answered 502 without an OAuth error/],
    [
      { status: 200, body: '{"token_type":"Bearer","expires_in":60}' },
      /answered 200 without a usable "access_token"/,
    ],
    [
      { status: 200, body: '{"access_token":"a b","token_type":"Bearer"}' },
      /without a usable "access_token"/,
    ],
    [
      { status: 200, body: '{"access_token":"abc","token_type":"DPoP"}' },
      /"token_type" of DPoP; only Bearer/,
    ],
    [
      { status: 200, body: '{"access_token":"abc","token_type":"bearer","expires_in":-1}' },
      /"expires_in" that is not a positive number/,
    ],
  ])('an unusable answer (%o) is a clear error', async (answer, message) => {
    target.issuer.queue('/oauth/token', answer)
    const error = await rejection(client().fetch('/orders'))
    expect(error.code).toBe('token_request_failed')
    expect(error.message).toMatch(message)
    expect(target.api.seen).toHaveLength(0)
  })

  it('the token request times out like any call', async () => {
    target.issuer.queue('/oauth/token', 'hang')
    const error = await rejection(client({ timeoutMs: 100, retry: false }).fetch('/orders'))
    expect(error.code).toBe('timeout')
    expect(error.message).toBe(
      `token request to ${target.issuer.tokenUrl} got no response within "timeoutMs" (100 ms)`,
    )
  })

  it("a caller's abort while waiting for a token rejects that call only", async () => {
    target.issuer.queue('/oauth/token', { status: 503, headers: { 'retry-after': '1' } })
    const api = client()
    const controller = new AbortController()
    const aborted = api.fetch('/a', { signal: controller.signal })
    const patient = api.fetch('/b')
    await until(() => events.length === 1)
    controller.abort(new Error('gave up'))
    await expect(aborted).rejects.toThrow('gave up')
    expect((await patient).status).toBe(200)
    expect(target.issuer.tokenRequests).toHaveLength(2)
  })
})

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}
