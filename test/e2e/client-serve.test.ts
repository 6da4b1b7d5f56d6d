// keyward/client against the real thing: the built `keyward serve` (token endpoint, JWKS) and
// an upstream protected by keyward's middleware, which accepts keys and keyward serve's tokens
// (test/client/servers.ts, startKeywardTarget).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ClientOptions, RetryEvent } from '../../src/client/index.js'
import { KeywardError } from '../../src/core/errors.js'
import {
  type KeywardTarget,
  recordingClient,
  startKeywardTarget,
  watchForLeaks,
} from '../client/servers.js'

// Date is faked in the token refresh test (the client's sense of time); the upstream checks
// tokens against this real clock, as keyward serve does
const realClock = { now: () => performance.timeOrigin + performance.now() }

let target: KeywardTarget
let watch: ReturnType<typeof watchForLeaks>
let events: RetryEvent[]

beforeAll(async () => {
  target = await startKeywardTarget({ tokenLifetimeS: 60, clock: realClock })
  // neither the key nor any token leaves in a URL, an onRetry event or an error message
  watch = watchForLeaks(target, () => [target.key, target.limitedKey, ...target.tokensSeen()])
  events = watch.events
}, 30_000)
afterAll(async () => {
  await target?.close()
})
afterEach(() => {
  vi.useRealTimers()
  watch.checkAndReset()
})

const client = (options: Partial<ClientOptions> = {}) =>
  recordingClient(events, {
    apiKey: target.key,
    baseUrl: target.api.baseUrl,
    retry: { baseDelayMs: 1, maxDelayMs: 5_000 },
  })(options)

const tokenClient = (options: Partial<ClientOptions> = {}) =>
  client({ token: { url: target.tokenUrl, scope: ['orders:read', 'orders:write'] }, ...options })

const fifty = (api: ReturnType<typeof client>) =>
  Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      api
        .fetch(`/orders/${i}`)
        .then(async (r) => [r.status, ((await r.json()) as { keyId: string }).keyId] as const),
    ),
  )

describe('keyward/client against keyward serve and a keyward-protected upstream', () => {
  it('key mode: the key in X-API-Key, verified by the upstream', async () => {
    const res = await client().fetch('/orders', { method: 'PUT', body: '{"n":1}' })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ ok: true, method: 'PUT', keyId: target.keyId })
    expect(target.api.seen[0]?.headers['x-api-key']).toBe(target.key)
  })

  it('token mode: 50 concurrent calls get one token; after it expires, 50 more get exactly one more', async () => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true })
    const before = await target.tokensIssued()
    const api = tokenClient()
    const first = await fifty(api)
    expect(first.every(([status, keyId]) => status === 200 && keyId === target.keyId)).toBe(true)
    expect((await target.tokensIssued()) - before).toBe(1)
    const firstToken = target.api.seen[0]?.headers.authorization
    expect(firstToken).toMatch(/^Bearer eyJ/)
    expect(target.api.seen.every((r) => r.headers.authorization === firstToken)).toBe(true)
    expect(target.api.seen.every((r) => r.headers['x-api-key'] === undefined)).toBe(true)

    // the client's clock passes the token's expiry: it never sends it again
    vi.setSystemTime(Date.now() + (target.tokenLifetimeS + 1) * 1000)
    target.api.seen.length = 0
    const second = await fifty(api)
    expect(second.every(([status]) => status === 200)).toBe(true)
    expect((await target.tokensIssued()) - before).toBe(2)
    const secondToken = target.api.seen[0]?.headers.authorization
    expect(secondToken).not.toBe(firstToken)
    expect(target.api.seen.every((r) => r.headers.authorization === secondToken)).toBe(true)
  })

  it('token mode: a token the upstream refuses is replaced once and the call retried', async () => {
    const api = tokenClient()
    expect((await api.fetch('/orders')).status).toBe(200)
    const before = await target.tokensIssued()
    // a scripted 401 after authentication, as a revoked token would get
    target.api.queue('/orders', {
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="keyward", error="invalid_token"' },
    })
    expect((await api.fetch('/orders')).status).toBe(200)
    expect((await target.tokensIssued()) - before).toBe(1)
    expect(events.map((e) => e.reason)).toEqual(['unauthorized'])
  })

  it('429 with Retry-After from the key`s own rate limit: waited for, then the success', async () => {
    const api = client({ apiKey: target.limitedKey })
    expect((await api.fetch('/orders')).status).toBe(200)
    const res = await api.fetch('/orders')
    expect(res.status).toBe(200)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ reason: 'status', status: 429 })
    // Retry-After: 1 (whole seconds): the client waited what it asked
    expect(events[0]!.delayMs).toBeGreaterThan(0)
    expect(events[0]!.delayMs).toBeLessThanOrEqual(1000)
    expect(target.api.seen.map((r) => r.url)).toEqual(['/orders', '/orders', '/orders'])
  })

  it('503 then success', async () => {
    target.api.queue('/orders', { status: 503 })
    const res = await client().fetch('/orders')
    expect(res.status).toBe(200)
    expect(events.map((e) => [e.reason, e.status])).toEqual([['status', 503]])
    expect(target.api.seen).toHaveLength(2)
  })

  it('a hung upstream times out per attempt, and the GET is retried a bounded number of times', async () => {
    target.api.queue('/orders', 'hang', 'hang')
    const api = client({ timeoutMs: 150, retry: { retries: 1, baseDelayMs: 1 } })
    const error = await api.fetch('/orders').then(
      () => null,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(KeywardError)
    expect((error as KeywardError).code).toBe('timeout')
    expect(target.api.seen).toHaveLength(2)
  })

  it('a POST is not retried without an Idempotency-Key; with one it is', async () => {
    target.api.queue('/orders', { status: 503 })
    const once = await client().fetch('/orders', { method: 'POST', body: '{"item":"tea"}' })
    expect(once.status).toBe(503)
    expect(target.api.seen).toHaveLength(1)
    target.api.queue('/orders', { status: 503 })
    const retried = await client().fetch('/orders', {
      method: 'POST',
      body: '{"item":"tea"}',
      headers: { 'idempotency-key': 'order-7' },
    })
    expect(retried.status).toBe(201)
    expect(target.api.seen).toHaveLength(3)
    expect(target.api.seen[2]?.headers['idempotency-key']).toBe('order-7')
  })
})
