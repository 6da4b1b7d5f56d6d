import { describe, expect, it } from 'vitest'
import type { DenyCode } from '../core/errors.js'
import { resolveApiKeyOptions } from './options.js'
import { createResponder, DENIALS } from './responses.js'

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }
const respond = createResponder(resolveApiKeyOptions({ keyward }))

describe('the denial table', () => {
  it.each([
    ['key_missing', false, 401, 'Bearer realm="keyward"', undefined],
    ['key_invalid', true, 401, 'Bearer realm="keyward", error="invalid_token"', undefined],
    ['key_invalid', false, 401, 'Bearer realm="keyward"', undefined],
    ['key_revoked', true, 401, 'Bearer realm="keyward", error="invalid_token"', undefined],
    ['key_expired', true, 401, 'Bearer realm="keyward", error="invalid_token"', undefined],
    ['key_disabled', true, 401, 'Bearer realm="keyward", error="invalid_token"', undefined],
    ['key_ambiguous', true, 400, 'Bearer realm="keyward", error="invalid_request"', undefined],
    ['headers_truncated', false, 431, undefined, undefined],
    ['ip_not_allowed', true, 403, undefined, undefined],
    ['rate_limited', true, 429, undefined, '1'],
    ['quota_exhausted', true, 429, undefined, '60'],
    ['store_unavailable', true, 503, undefined, '5'],
    // retrying cannot help: no Retry-After, even when the denial carries one
    ['idempotency_key_reused', true, 422, undefined, undefined],
    ['token_invalid', true, 401, 'Bearer realm="keyward", error="invalid_token"', undefined],
    ['token_expired', true, 401, 'Bearer realm="keyward", error="invalid_token"', undefined],
    ['token_revoked', true, 401, 'Bearer realm="keyward", error="invalid_token"', undefined],
    ['token_too_large', true, 413, undefined, undefined],
    ['jwks_unavailable', true, 503, undefined, '5'],
  ] as const)(
    '%s (credential sent: %s) -> %i',
    (code, presented, status, challenge, retryAfter) => {
      const r = respond({ ok: false, code }, presented)
      expect(r.status).toBe(status)
      expect(r.headers['www-authenticate']).toBe(challenge)
      expect(r.headers['retry-after']).toBe(retryAfter)
      expect(r.headers['cache-control']).toBe('no-store')
      expect(r.headers['content-type']).toBe('application/problem+json')
      const body = JSON.parse(r.body)
      expect(Object.keys(body)).toEqual(['type', 'title', 'status', 'detail', 'code'])
      expect(body).toMatchObject({ type: `urn:keyward:problem:${code}`, status, code })
    },
  )

  it('covers every deny code', () => {
    const codes: DenyCode[] = [
      'key_missing',
      'key_ambiguous',
      'headers_truncated',
      'key_invalid',
      'key_revoked',
      'key_expired',
      'key_disabled',
      'ip_not_allowed',
      'insufficient_scope',
      'rate_limited',
      'quota_exhausted',
      'store_unavailable',
      'idempotency_key_reused',
      'token_invalid',
      'token_expired',
      'token_revoked',
      'token_too_large',
      'jwks_unavailable',
    ]
    expect(Object.keys(DENIALS).sort()).toEqual([...codes].sort())
  })

  it('answers a reused Idempotency-Key with 422, what to do, and no Retry-After', () => {
    // keyward's denial carries retryAfterSeconds for every limiter refusal; waiting cannot help
    const r = respond({ ok: false, code: 'idempotency_key_reused', retryAfterSeconds: 1 }, true)
    expect(r.status).toBe(422)
    expect(r.headers['retry-after']).toBeUndefined()
    expect(JSON.parse(r.body).detail).toContain('Send a new Idempotency-Key')
  })

  it('names the missing scopes in the body and the challenge', () => {
    const r = respond(
      { ok: false, code: 'insufficient_scope', missingScopes: ['orders:write', 'orders:admin'] },
      true,
    )
    expect(r.status).toBe(403)
    expect(r.headers['www-authenticate']).toBe(
      'Bearer realm="keyward", error="insufficient_scope", scope="orders:write orders:admin"',
    )
    const body = JSON.parse(r.body)
    expect(body.missingScopes).toEqual(['orders:write', 'orders:admin'])
    expect(body.detail).toBe(
      "This API key lacks the scopes orders:write, orders:admin needed here. Use a key that has them, or ask the key's owner to add them.",
    )
  })

  it('takes Retry-After from the denial, rounded up, and accepts RateLimit fields', () => {
    const r = respond({ ok: false, code: 'rate_limited', retryAfterSeconds: 16.2 }, true, {
      ratelimit: '"default";r=0;t=17',
      'ratelimit-policy': '"default";q=100;w=60',
    })
    expect(r.headers['retry-after']).toBe('17')
    expect(r.headers.ratelimit).toBe('"default";r=0;t=17')
  })

  it('tells the caller where to send the key, from the enabled sources', () => {
    const only = createResponder(resolveApiKeyOptions({ keyward, sources: ['x-api-key'] }))(
      { ok: false, code: 'key_missing' },
      false,
    )
    expect(JSON.parse(only.body).detail).toBe(
      'No API key was sent. Send your API key in the X-API-Key header.',
    )
    const many = createResponder(
      resolveApiKeyOptions({ keyward, sources: ['x-api-key', 'bearer', 'apikey'] }),
    )({ ok: false, code: 'key_missing' }, false)
    expect(JSON.parse(many.body).detail).toBe(
      'No API key was sent. Send your API key in the X-API-Key header, as "Authorization: Bearer <key>" or as "Authorization: ApiKey <key>".',
    )
  })

  it('never puts the cause of a store failure in the body', () => {
    const r = respond(
      { ok: false, code: 'store_unavailable', cause: new Error('ECONNREFUSED 10.0.0.5:5432') },
      true,
    )
    expect(r.body).not.toContain('ECONNREFUSED')
  })

  it('uses a custom realm', () => {
    const r = createResponder(resolveApiKeyOptions({ keyward, realm: 'orders-api' }))(
      { ok: false, code: 'key_missing' },
      false,
    )
    expect(r.headers['www-authenticate']).toBe('Bearer realm="orders-api"')
  })
})
