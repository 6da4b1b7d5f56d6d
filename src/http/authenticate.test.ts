import { describe, expect, it } from 'vitest'
import { createAuthenticator } from './authenticate.js'
import type { RequestView } from './credentials.js'

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }

function view(headers: Record<string, string | string[]>): RequestView {
  return { method: 'GET', url: '/', ip: '127.0.0.1', header: (name) => headers[name] }
}

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
