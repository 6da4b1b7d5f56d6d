import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  recordingClient,
  startTarget,
  type Target,
  watchForLeaks,
} from '../../test/client/servers.js'
import { KeywardError } from '../core/errors.js'
import { type ClientOptions, createClient, type RetryEvent } from './index.js'

let target: Target
let watch: ReturnType<typeof watchForLeaks>
let events: RetryEvent[]
let rejection: (promise: Promise<unknown>) => Promise<KeywardError>

beforeAll(async () => {
  target = await startTarget()
  watch = watchForLeaks(target)
  events = watch.events
  rejection = watch.rejection
})
afterAll(async () => {
  await target.close()
})
// the key never leaves in a URL, an onRetry event or an error message
afterEach(() => watch.checkAndReset())

const client = (options: Partial<ClientOptions> = {}) =>
  recordingClient(events, {
    apiKey: target.key,
    baseUrl: target.api.baseUrl,
    retry: { baseDelayMs: 1, maxDelayMs: 5_000 },
  })(options)

describe('key mode', () => {
  it('sends the key in X-API-Key and keeps the caller’s method, headers, query and body', async () => {
    const res = await client().fetch('/orders?status=open', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-trace': 'abc' },
      body: '{"n":1}',
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true, method: 'PUT', body: '{"n":1}' })
    const [seen] = target.api.seen
    expect(seen?.url).toBe('/orders?status=open')
    expect(seen?.headers['x-api-key']).toBe(target.key)
    expect(seen?.headers['x-trace']).toBe('abc')
    expect(seen?.headers['content-type']).toBe('application/json')
    expect(seen?.headers.authorization).toBeUndefined()
  })

  it('joins relative URLs to a baseUrl with a path, and accepts URL and Request inputs', async () => {
    const api = client({ baseUrl: `${target.api.baseUrl}/v1/` })
    await api.fetch('orders')
    await api.fetch(new URL(`${target.api.baseUrl}/v1/items`))
    await api.fetch(new Request(`${target.api.baseUrl}/v1/users`, { headers: { 'x-trace': 'r' } }))
    expect(target.api.seen.map((r) => r.url)).toEqual(['/v1/orders', '/v1/items', '/v1/users'])
    expect(target.api.seen[2]?.headers['x-trace']).toBe('r')
    expect(target.api.seen.every((r) => r.headers['x-api-key'] === target.key)).toBe(true)
  })

  it('calls the fetch option, whatever class its responses are', async () => {
    const calls: [string, Headers][] = []
    const answer = { status: 200, headers: new Headers(), body: null }
    const api = client({
      fetch: async (input, init) => {
        calls.push([String(input), new Headers(init?.headers)])
        return answer as unknown as Response
      },
    })
    expect(await api.fetch('/a')).toBe(answer)
    expect(calls.map(([url, headers]) => [url, headers.get('x-api-key')])).toEqual([
      [`${target.api.baseUrl}/a`, target.key],
    ])
  })

  it('calls the apiKey function for each request (rotation without a new client)', async () => {
    const keys = [target.key, 'kw_test_rotatedAway']
    const api = client({ apiKey: () => keys.shift() ?? target.key })
    expect((await api.fetch('/a')).status).toBe(200)
    expect((await api.fetch('/b')).status).toBe(401)
    expect(target.api.seen.map((r) => r.headers['x-api-key'])).toEqual([
      target.key,
      'kw_test_rotatedAway',
    ])
  })

  it('refuses a bad key from the apiKey function without quoting it', async () => {
    const error = await rejection(client({ apiKey: async () => `${target.key} ` }).fetch('/a'))
    expect(error.code).toBe('invalid_options')
    expect(error.message).toMatch(
      /"apiKey" function's result must be a non-empty string of visible ASCII/,
    )
    expect(target.api.seen).toHaveLength(0)
  })

  it.each([
    [
      'an X-API-Key header',
      '/a',
      { headers: { 'X-API-Key': 'other' } },
      /already has an X-API-Key header/,
    ],
    [
      'an Authorization header',
      '/a',
      { headers: { authorization: 'Bearer x' } },
      /already has an Authorization header/,
    ],
    ['an api_key query parameter', '/a?API_KEY=x', {}, /"API_KEY" query parameter/],
    ['another origin than baseUrl', 'http://127.0.0.1:9/a', {}, /not the origin of "baseUrl"/],
    ['redirect: follow', '/a', { redirect: 'follow' }, /redirect: 'follow' is not supported/],
    [
      'a malformed Idempotency-Key',
      '/a',
      { method: 'POST', headers: { 'idempotency-key': 'a b' } },
      /Idempotency-Key/,
    ],
  ] as const)(
    'refuses a request with %s before sending anything',
    async (_, url, init, message) => {
      const error = await rejection(client().fetch(url, init as RequestInit))
      expect(error).toBeInstanceOf(KeywardError)
      expect(error.code).toBe('invalid_argument')
      expect(error.message).toMatch(message)
      expect(target.api.seen).toHaveLength(0)
    },
  )

  it('refuses a URL that contains the key, without quoting it', async () => {
    const error = await rejection(client().fetch(`/keys/${target.key}`))
    expect(error.code).toBe('invalid_argument')
    expect(error.message).toMatch(/contains the API key/)
    expect(target.api.seen).toHaveLength(0)
  })

  it('refuses plain http to a host that is not loopback', async () => {
    const api = createClient({ apiKey: target.key })
    const error = await rejection(api.fetch('http://orders.example/a'))
    expect(error.code).toBe('invalid_argument')
    expect(error.message).toMatch(/plain http to orders\.example.*allowInsecureHttp/)
  })

  it('does not follow a redirect (fetch would resend the key to its origin): the 3xx is returned', async () => {
    const other = createServer((_, res) => res.end('leaked'))
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    let otherHits = 0
    other.on('request', () => otherHits++)
    const elsewhere = `http://127.0.0.1:${(other.address() as AddressInfo).port}/steal`
    target.api.queue('/moved', { status: 302, headers: { location: elsewhere } })
    const res = await client().fetch('/moved')
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe(elsewhere)
    expect(otherHits).toBe(0)
    other.close()
  })
})

describe('retries', () => {
  it('waits what Retry-After asks after a 429, then returns the success', async () => {
    target.api.queue('/limited', { status: 429, headers: { 'retry-after': '1' } })
    const res = await client().fetch('/limited?cursor=secret')
    expect(res.status).toBe(200)
    expect(target.api.seen).toHaveLength(2)
    expect(events).toEqual([
      {
        target: 'api',
        method: 'GET',
        url: `${target.api.baseUrl}/limited`,
        attempt: 1,
        reason: 'status',
        status: 429,
        delayMs: 1000,
      },
    ])
  })

  it('honours a Retry-After HTTP-date', async () => {
    const past = new Date(Date.now() - 60_000).toUTCString()
    target.api.queue('/limited', { status: 429, headers: { 'retry-after': past } })
    const res = await client({ retry: { baseDelayMs: 4_000, maxDelayMs: 5_000 } }).fetch('/limited')
    expect(res.status).toBe(200)
    // a date in the past means now, not a backoff of up to 4 s
    expect(events.map((e) => e.delayMs)).toEqual([0])
  })

  it('retries a 503 with jittered backoff within baseDelayMs * 2^n', async () => {
    target.api.queue('/busy', { status: 503 }, { status: 503 })
    const res = await client({ retry: { baseDelayMs: 10, maxDelayMs: 15 } }).fetch('/busy')
    expect(res.status).toBe(200)
    expect(target.api.seen).toHaveLength(3)
    expect(events.map((e) => [e.attempt, e.status])).toEqual([
      [1, 503],
      [2, 503],
    ])
    expect(events[0]!.delayMs).toBeLessThan(10)
    expect(events[1]!.delayMs).toBeLessThan(15) // 20, capped by maxDelayMs
  })

  it('returns the last 429 as a response once the retries are spent', async () => {
    target.api.queue(
      '/limited',
      ...Array(3).fill({ status: 429, headers: { 'retry-after': '0' }, body: 'slow down' }),
    )
    const res = await client({ retry: { retries: 2, baseDelayMs: 1 } }).fetch('/limited')
    expect(res.status).toBe(429)
    expect(await res.text()).toBe('slow down')
    expect(target.api.seen).toHaveLength(3)
  })

  it('returns a 429 at once when Retry-After is longer than maxDelayMs', async () => {
    target.api.queue('/limited', { status: 429, headers: { 'retry-after': '60' } })
    const res = await client({ deadlineMs: 120_000 }).fetch('/limited')
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('60')
    expect(target.api.seen).toHaveLength(1)
    expect(events).toHaveLength(0)
  })

  it('returns a 503 at once when the wait it asks would end past deadlineMs', async () => {
    target.api.queue('/busy', { status: 503, headers: { 'retry-after': '3' } })
    const res = await client({ timeoutMs: 1_000, deadlineMs: 2_000 }).fetch('/busy')
    expect(res.status).toBe(503)
    expect(target.api.seen).toHaveLength(1)
    expect(events).toHaveLength(0)
  })

  it('does not retry statuses outside retryOn, nor anything with retry: false', async () => {
    target.api.queue('/x', { status: 500 })
    expect((await client().fetch('/x')).status).toBe(500)
    target.api.queue('/y', { status: 503 })
    expect((await client({ retry: false }).fetch('/y')).status).toBe(503)
    target.api.queue('/z', { status: 502 })
    expect((await client({ retry: { retryOn: [502], baseDelayMs: 1 } }).fetch('/z')).status).toBe(
      200,
    )
    expect(target.api.seen.map((r) => r.url)).toEqual(['/x', '/y', '/z', '/z'])
  })

  it('never retries a POST without an Idempotency-Key', async () => {
    target.api.queue('/orders', { status: 503 })
    const res = await client().fetch('/orders', { method: 'POST', body: '{}' })
    expect(res.status).toBe(503)
    expect(target.api.seen).toHaveLength(1)
  })

  it('retries a POST that carries an Idempotency-Key, with the same key and body', async () => {
    target.api.queue('/orders', { status: 503 })
    const res = await client().fetch('/orders', {
      method: 'POST',
      headers: { 'Idempotency-Key': 'order-42' },
      body: '{"n":42}',
    })
    expect(res.status).toBe(201)
    expect(target.api.seen.map((r) => [r.headers['idempotency-key'], r.body])).toEqual([
      ['order-42', '{"n":42}'],
      ['order-42', '{"n":42}'],
    ])
  })

  it("idempotency: 'auto' gives POST and PATCH one Idempotency-Key for all attempts", async () => {
    target.api.queue('/orders', { status: 503 })
    target.api.queue('/orders/1', { status: 429, headers: { 'retry-after': '0' } })
    const api = client({ idempotency: 'auto' })
    expect((await api.fetch('/orders', { method: 'POST', body: 'a' })).status).toBe(201)
    expect((await api.fetch('/orders/1', { method: 'patch', body: 'b' })).status).toBe(200)
    await api.fetch('/orders')
    const keys = target.api.seen.map((r) => r.headers['idempotency-key'])
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(keys[1]).toBe(keys[0])
    expect(keys[2]).toMatch(/^[0-9a-f-]{36}$/)
    expect(keys[3]).toBe(keys[2])
    expect(keys[2]).not.toBe(keys[0])
    expect(keys[4]).toBeUndefined() // GET needs none
  })

  it('does not retry a streamed body (it cannot be sent twice), even with an Idempotency-Key', async () => {
    target.api.queue('/upload', { status: 503 })
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('chunk'))
        controller.close()
      },
    })
    const res = await client().fetch('/upload', {
      method: 'PUT',
      body,
      duplex: 'half',
      headers: { 'idempotency-key': 'u1' },
    } as RequestInit)
    expect(res.status).toBe(503)
    expect(target.api.seen.map((r) => r.body)).toEqual(['chunk'])
  })

  it('a Request object with a body is sent once (its body is a stream)', async () => {
    target.api.queue('/orders', { status: 503 })
    const request = new Request(`${target.api.baseUrl}/orders`, {
      method: 'POST',
      body: 'x',
      headers: { 'idempotency-key': 'k1' },
    })
    expect((await client().fetch(request)).status).toBe(503)
    expect(target.api.seen.map((r) => r.body)).toEqual(['x'])
  })
})

describe('failures without a response', () => {
  it('times out a hung server per attempt, retries a GET a bounded number of times, then throws timeout', async () => {
    target.api.queue('/hang', 'hang', 'hang', 'hang')
    const error = await rejection(
      client({ timeoutMs: 100, retry: { retries: 2, baseDelayMs: 1 } }).fetch('/hang'),
    )
    expect(error.code).toBe('timeout')
    expect(error.message).toBe(
      `request to ${target.api.baseUrl}/hang got no response within "timeoutMs" (100 ms) (after 3 attempts)`,
    )
    expect(target.api.seen).toHaveLength(3)
    expect(events.map((e) => [e.reason, e.code])).toEqual([
      ['timeout', 'timeout'],
      ['timeout', 'timeout'],
    ])
  })

  it('does not retry a POST that timed out', async () => {
    target.api.queue('/orders', 'hang')
    const error = await rejection(
      client({ timeoutMs: 100 }).fetch('/orders', { method: 'POST', body: '{}' }),
    )
    expect(error.code).toBe('timeout')
    expect(target.api.seen).toHaveLength(1)
  })

  it('stops at deadlineMs, retries included', async () => {
    target.api.queue('/hang', ...Array(20).fill('hang'))
    const error = await rejection(
      client({
        timeoutMs: 100,
        deadlineMs: 150,
        retry: { retries: 20, baseDelayMs: 0, maxDelayMs: 0 },
      }).fetch('/hang'),
    )
    expect(error.code).toBe('timeout')
    expect(error.message).toMatch(/"deadlineMs" \(150 ms\)/)
    expect(target.api.seen.length).toBeLessThan(21)
  })

  it('throws network for a refused connection, after retrying a GET', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
    await new Promise((resolve) => closed.close(resolve))
    const error = await rejection(
      client({ baseUrl: url, retry: { retries: 1, baseDelayMs: 1 } }).fetch('/a'),
    )
    expect(error).toBeInstanceOf(KeywardError)
    expect(error.code).toBe('network')
    expect(error.message).toMatch(
      new RegExp(`^request to ${url}/a failed: .*ECONNREFUSED.* \\(after 2 attempts\\)$`),
    )
    expect(events.map((e) => e.code)).toEqual(['network'])
  })

  it('does not begin a wait that would end past deadlineMs: the failure is thrown at once', async () => {
    target.api.queue('/a', 'reset')
    vi.spyOn(Math, 'random').mockReturnValue(0.5) // backoff: half of 60 s
    const api = client({
      timeoutMs: 1_000,
      deadlineMs: 1_000,
      retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
    })
    const error = await rejection(api.fetch('/a'))
    vi.restoreAllMocks()
    expect(error.code).toBe('network')
    expect(events).toHaveLength(0)
    expect(target.api.seen).toHaveLength(1)
  })

  it('does not retry a POST whose connection dropped', async () => {
    target.api.queue('/orders', 'reset')
    const error = await rejection(client().fetch('/orders', { method: 'POST', body: '{}' }))
    expect(error.code).toBe('network')
    expect(target.api.seen).toHaveLength(1)
  })
})

describe("the caller's abort", () => {
  it('rejects with the signal’s reason during an attempt', async () => {
    target.api.queue('/hang', 'hang')
    const controller = new AbortController()
    const call = client().fetch('/hang', { signal: controller.signal })
    await until(() => target.api.seen.length === 1)
    const reason = new Error('shutting down')
    controller.abort(reason)
    await expect(call).rejects.toBe(reason)
  })

  it('stops the wait before a retry at once, and sends nothing more', async () => {
    target.api.queue('/limited', { status: 503, headers: { 'retry-after': '5' } })
    const controller = new AbortController()
    const api = client({
      onRetry: (event) => {
        events.push(event)
        controller.abort()
      },
    })
    const error = await rejection(api.fetch('/limited', { signal: controller.signal }))
    expect((error as Error).name).toBe('AbortError')
    expect(events.map((e) => e.delayMs)).toEqual([5000])
    expect(target.api.seen).toHaveLength(1)
  })

  it('an aborted signal sends nothing', async () => {
    const error = await rejection(client().fetch('/a', { signal: AbortSignal.abort() }))
    expect((error as Error).name).toBe('AbortError')
    expect(target.api.seen).toHaveLength(0)
  })
})

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}
