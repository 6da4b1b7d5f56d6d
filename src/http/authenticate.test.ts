import { describe, expect, it } from 'vitest'
import { createAuthenticator, idempotencyKeyOf } from './authenticate.js'
import type { RequestView } from './credentials.js'

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }

function view(headers: Record<string, string | string[]>): RequestView {
  return { method: 'GET', url: '/', ip: '127.0.0.1', header: (name) => headers[name] }
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

describe('createAuthenticator', () => {
  it('checks the failedAuth numbers when the guard is created', () => {
    expect(() => createAuthenticator({ keyward, failedAuth: { limit: 0 } })).toThrow(
      expect.objectContaining({
        code: 'invalid_options',
        message: expect.stringContaining('"limit"'),
      }),
    )
  })

  it('falls back to verify() for verifiers without verifyCached', async () => {
    const auth = createAuthenticator({ keyward })
    const result = await auth.authenticate(view({ 'x-api-key': 'kw_live_x' }), {})
    expect(result.ok).toBe(false)
  })
})
