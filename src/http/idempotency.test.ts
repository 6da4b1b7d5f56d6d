import { describe, expect, it } from 'vitest'
import type { VerifyOptions } from '../core/keyward.js'
import { createAuthenticator } from './authenticate.js'
import type { RequestView } from './credentials.js'
import { idempotencyKeyOf, operationOf } from './idempotency.js'
import type { ApiKeyOptions } from './options.js'

function view(
  headers: Record<string, string | string[]>,
  rest: Partial<Pick<RequestView, 'method' | 'url' | 'body'>> = {},
): RequestView {
  return { method: 'GET', url: '/', ip: '127.0.0.1', header: (name) => headers[name], ...rest }
}

describe('idempotencyKeyOf', () => {
  it.each([
    [{}, undefined],
    [{ 'idempotency-key': ' order-1 ' }, 'order-1'],
    [
      { 'idempotency-key': '"8e03978e-40d5-43e8-bc93-6894a57f9324"' },
      '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
    ],
    [{ 'idempotency-key': '' }, undefined],
    [{ 'idempotency-key': 'a b' }, undefined],
    [{ 'idempotency-key': 'x'.repeat(256) }, undefined],
    [{ 'idempotency-key': ['a', 'b'] }, undefined],
  ])('%j -> %s', (headers, expected) => {
    expect(idempotencyKeyOf(view(headers))).toBe(expected)
  })
})

describe('operationOf', () => {
  const op = (
    rest: Partial<Pick<RequestView, 'method' | 'url' | 'body'>>,
    param: string | null = null,
  ) => operationOf(view({}, { method: 'POST', ...rest }), param)

  it('is the method and the path as received, with the query', () => {
    expect(op({ url: '/orders' })).toBe('POST /orders')
    expect(op({ method: 'PATCH', url: '/orders/7' })).toBe('PATCH /orders/7')
    expect(op({ url: '/orders?draft=1&x=a%20b' })).toBe('POST /orders?draft=1&x=a+b')
    // an empty query is no query; the fragment never counts
    expect(op({ url: '/orders?' })).toBe('POST /orders')
    expect(op({ url: '/orders#top' })).toBe('POST /orders')
  })

  it('drops the origin of an absolute target (fetch requests)', () => {
    expect(op({ url: 'https://api.example.com/orders?a=1' })).toBe('POST /orders?a=1')
    expect(op({ url: 'http://api.example.com' })).toBe('POST /')
  })

  it('drops the credential query parameter when the query source is on, however it is spelled', () => {
    expect(op({ url: '/orders?api_key=kw_secret&a=1' }, 'api_key')).toBe('POST /orders?a=1')
    expect(op({ url: '/orders?%61pi_key=kw_secret' }, 'api_key')).toBe('POST /orders')
    // with the query source off, api_key is an ordinary parameter
    expect(op({ url: '/orders?api_key=x' })).toBe('POST /orders?api_key=x')
  })

  it('adds the SHA-256 of a body the adapter has: raw, text or parsed', () => {
    const json = '{"amount":10}'
    const hashed = 'POST /orders qLiLgv6QoWBI64hR_jgkBTlc05Xa-qfKm-kOwA-Cpys'
    expect(op({ url: '/orders', body: json })).toBe(hashed)
    expect(op({ url: '/orders', body: Buffer.from(json) })).toBe(hashed)
    expect(op({ url: '/orders', body: new TextEncoder().encode(json).buffer })).toBe(hashed)
    expect(op({ url: '/orders', body: { amount: 10 } })).toBe(hashed)
    expect(op({ url: '/orders', body: { amount: 11 } })).not.toBe(hashed)
    expect(op({ url: '/orders', body: null })).toBe('POST /orders')
  })

  it('gives no operation for a body it cannot hash (the key is then ignored)', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(op({ url: '/orders', body: circular })).toBeUndefined()
    expect(op({ url: '/orders', body: { n: 1n } })).toBeUndefined()
    expect(op({ url: '/orders', body: () => 1 })).toBeUndefined()
  })
})

describe('the authenticator passes Idempotency-Key and operation to verify', () => {
  function seen(options: Omit<ApiKeyOptions, 'keyward'>, request: Partial<RequestView>) {
    const calls: (VerifyOptions | undefined)[] = []
    const keyward = {
      verify: async (_: unknown, o?: VerifyOptions) => {
        calls.push(o)
        return { ok: false, code: 'key_invalid' } as const
      },
    }
    const auth = createAuthenticator({ keyward, ...options })
    const headers: Record<string, string> = { 'x-api-key': 'kw_x', 'idempotency-key': 'k-1' }
    return auth.authenticate({ ...view(headers), ...request }, {}).then(() => calls[0])
  }

  it('on POST and PATCH by default, bound to the operation', async () => {
    expect(await seen({}, { method: 'POST', url: '/orders?a=1' })).toEqual({
      scopes: [],
      ip: '127.0.0.1',
      idempotencyKey: 'k-1',
      operation: 'POST /orders?a=1',
    })
    expect(await seen({}, { method: 'PATCH', url: '/orders/1' })).toMatchObject({
      idempotencyKey: 'k-1',
      operation: 'PATCH /orders/1',
    })
  })

  it('not on other methods, nor with idempotency: false', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'HEAD']) {
      expect(await seen({}, { method })).toEqual({ scopes: [], ip: '127.0.0.1' })
    }
    expect(await seen({ idempotency: false }, { method: 'POST' })).toEqual({
      scopes: [],
      ip: '127.0.0.1',
    })
  })

  it('on the configured methods, without the credential parameter of the query source', async () => {
    const options = { idempotency: { methods: ['PUT'] }, sources: ['query'] as const }
    expect(await seen(options, { method: 'PUT', url: '/a?api_key=kw_x&b=2' })).toMatchObject({
      idempotencyKey: 'k-1',
      operation: 'PUT /a?b=2',
    })
    expect((await seen(options, { method: 'POST' }))?.idempotencyKey).toBeUndefined()
  })
})
