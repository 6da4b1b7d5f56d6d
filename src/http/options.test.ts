import { describe, expect, it } from 'vitest'
import { type ApiKeyOptions, resolveApiKeyOptions } from './options.js'

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }

describe('resolveApiKeyOptions', () => {
  it('defaults to X-API-Key and Bearer, preflight pass, realm keyward, frozen', () => {
    const o = resolveApiKeyOptions({ keyward })
    expect(o.sources).toEqual(['x-api-key', 'bearer'])
    expect([o.useHeader, o.useBearer, o.useApiKeyScheme, o.useQuery]).toEqual([
      true,
      true,
      false,
      false,
    ])
    expect(o.preflightPass).toBe(true)
    expect(o.realm).toBe('keyward')
    expect(Object.isFrozen(o)).toBe(true)
  })

  it.each([
    [{ keyward, scope: ['a:b'] }, 'unknown option "scope"'],
    [{}, '"keyward" must be a Keyward'],
    [{ keyward, sources: ['header'] }, '"sources" contains "header"'],
    [{ keyward, sources: ['bearer', 'bearer'] }, '"sources" lists a source twice'],
    [{ keyward, preflight: 'skip' }, '"preflight" must be "pass" or "authenticate", got "skip"'],
    [{ keyward, onDenied: 'log' }, '"onDenied" must be a function, got string'],
    [{ keyward, realm: 'a"b' }, '"realm" must be'],
    [{ keyward, queryParam: 'a b' }, '"queryParam" must be'],
    [{ keyward, scopes: 'orders:read' }, '"scopes" must be a list'],
    [{ keyward, cost: 3 }, '"cost" must be a function, got number'],
    [{ keyward, failedAuth: 5 }, '"failedAuth" must be { limit, windowMs }'],
    [{ keyward, failedAuth: { limt: 3 } }, 'unknown option "failedAuth.limt"'],
    [{ keyward, trustedProxies: ['proxy.internal'] }, '"trustedProxies" entry "proxy.internal"'],
    [{ keyward, trustedProxies: '10.0.0.0/8' }, '"trustedProxies" must be a list'],
    [{ keyward, idempotency: true }, '"idempotency" must be false or { methods'],
    [{ keyward, idempotency: { method: ['POST'] } }, 'unknown option "idempotency.method"'],
    [{ keyward, idempotency: { methods: 'POST' } }, '"idempotency.methods" must be a list'],
    [{ keyward, idempotency: { methods: ['post'] } }, '"idempotency.methods" contains "post"'],
  ])('rejects %j', (input, message) => {
    expect(() => resolveApiKeyOptions(input as unknown as ApiKeyOptions)).toThrow(
      expect.objectContaining({
        code: 'invalid_options',
        message: expect.stringContaining(message),
      }),
    )
  })

  it('honours Idempotency-Key on POST and PATCH by default, as configured, or nowhere', () => {
    expect([...resolveApiKeyOptions({ keyward }).idempotencyMethods!]).toEqual(['POST', 'PATCH'])
    const custom = resolveApiKeyOptions({ keyward, idempotency: { methods: ['POST', 'PUT'] } })
    expect([...custom.idempotencyMethods!]).toEqual(['POST', 'PUT'])
    expect(resolveApiKeyOptions({ keyward, idempotency: false }).idempotencyMethods).toBeNull()
    expect(
      resolveApiKeyOptions({ keyward, idempotency: { methods: [] } }).idempotencyMethods,
    ).toBeNull()
  })

  it('rejects a malformed scope with invalid_argument', () => {
    expect(() => resolveApiKeyOptions({ keyward, scopes: ['Orders:Read'] })).toThrow(
      expect.objectContaining({ code: 'invalid_argument' }),
    )
  })

  it('warns once per logger when the query source is on', () => {
    const warnings: string[] = []
    const logger = { warn: (m: string) => warnings.push(m) }
    resolveApiKeyOptions({ keyward, sources: ['query'], logger })
    resolveApiKeyOptions({ keyward, sources: ['query'], logger })
    resolveApiKeyOptions({ keyward, logger })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/api_key.*prefer the X-API-Key header/)
  })
})
