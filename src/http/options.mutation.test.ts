import { describe, expect, it } from 'vitest'
import { systemClock } from '../core/clock.js'
import { createFailedAuthLimiter } from '../limits/failed-auth.js'
import { trustProxies } from '../limits/client-ip.js'
import { type ApiKeyOptions, checkScopes, resolveApiKeyOptions, usageTagOf } from './options.js'

// Every option of requireApiKey() at the edges of what it accepts, and the message of each
// refusal (options.test.ts has the common cases).

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }
const quiet = { warn() {} }

function refusal(input: unknown): { code: string; message: string } {
  try {
    resolveApiKeyOptions(input as ApiKeyOptions)
  } catch (error) {
    return error as { code: string; message: string }
  }
  throw new Error('accepted')
}

describe('resolveApiKeyOptions: refusals name the option and what to do', () => {
  it.each<[string, unknown, string]>([
    ['no options', undefined, 'options must be an object with at least { keyward }'],
    ['null', null, 'options must be an object with at least { keyward }'],
    [
      'a keyward without verify',
      { keyward: {} },
      '"keyward" must be a Keyward (from createKeyward) or have a verify() method',
    ],
    [
      'sources that are not a list',
      { keyward, sources: 'bearer' },
      '"sources" must be a list, e.g. ["x-api-key", "bearer"]',
    ],
    [
      'an unknown source',
      { keyward, sources: ['cookie'] },
      '"sources" contains "cookie": use x-api-key, bearer, apikey, query',
    ],
    [
      'a getCredential that is no function',
      { keyward, getCredential: 'x' },
      '"getCredential" must be a function, got string',
    ],
    [
      'an errorBody that is no function',
      { keyward, errorBody: {} },
      '"errorBody" must be a function, got object',
    ],
    [
      'a getClientIp that is no function',
      { keyward, getClientIp: 1 },
      '"getClientIp" must be a function, got number',
    ],
    [
      'an empty realm',
      { keyward, realm: '' },
      '"realm" must be 1-64 printable ASCII characters without quotes or backslashes',
    ],
    ['a realm of 65 characters', { keyward, realm: 'r'.repeat(65) }, '"realm" must be 1-64'],
    ['a realm with a backslash', { keyward, realm: 'a\\b' }, '"realm" must be 1-64'],
    ['a realm with a line break', { keyward, realm: 'a\nb' }, '"realm" must be 1-64'],
    ['a realm that is no string', { keyward, realm: 5 }, '"realm" must be 1-64'],
    [
      'a clock without now()',
      { keyward, clock: {} },
      '"clock" must have a now() method returning epoch ms',
    ],
    ['a null clock', { keyward, clock: null }, '"clock" must have a now() method'],
    ['a logger without warn()', { keyward, logger: {} }, '"logger" must have a warn() method'],
    [
      'a null failedAuth',
      { keyward, failedAuth: null },
      '"failedAuth" must be { limit, windowMs } or a limiter from createFailedAuthLimiter()',
    ],
    [
      'scopes holding a number',
      { keyward, scopes: [5] },
      '"scopes" must contain strings, got number',
    ],
    [
      'a null idempotency',
      { keyward, idempotency: null },
      '"idempotency" must be false or { methods: ["POST", "PATCH"] }',
    ],
    [
      'a method as a number',
      { keyward, idempotency: { methods: [1] } },
      '"idempotency.methods" contains 1: use uppercase method names such as "POST"',
    ],
    [
      'a method of 33 letters',
      { keyward, idempotency: { methods: [`P${'O'.repeat(32)}`] } },
      '"idempotency.methods" contains',
    ],
    [
      'a method starting with -',
      { keyward, idempotency: { methods: ['-POST'] } },
      '"idempotency.methods" contains "-POST"',
    ],
    [
      'a method with a space',
      { keyward, idempotency: { methods: ['POST '] } },
      '"idempotency.methods" contains "POST "',
    ],
    [
      'trustedProxies as an object',
      { keyward, trustedProxies: {} },
      '"trustedProxies" must be a list of addresses or CIDR ranges, e.g. ["10.0.0.0/8"]',
    ],
    ['trustedProxies null', { keyward, trustedProxies: null }, '"trustedProxies" must be a list'],
  ])('%s', (_, input, message) => {
    const error = refusal(input)
    expect(error.code).toBe('invalid_options')
    expect(error.message).toContain(message)
  })
})

describe('resolveApiKeyOptions: what it accepts', () => {
  it('reads every option into the resolved set', () => {
    const clock = { now: () => 42 }
    const getCredential = () => null
    const onDenied = () => {}
    const errorBody = () => ({})
    const cost = () => 2
    const getClientIp = () => '192.0.2.1'
    const o = resolveApiKeyOptions({
      keyward,
      scopes: ['orders:read', 'orders:read', 'orders:write'],
      sources: ['apikey', 'query'],
      queryParam: 'key',
      getCredential,
      onDenied,
      errorBody,
      preflight: 'authenticate',
      realm: `${' '.repeat(1)}~${'r'.repeat(62)}`,
      clock,
      logger: quiet,
      cost,
      getClientIp,
    })
    expect(o.scopes).toEqual(['orders:read', 'orders:write'])
    expect(Object.isFrozen(o.scopes)).toBe(true)
    expect(o.sources).toEqual(['apikey', 'query'])
    expect(Object.isFrozen(o.sources)).toBe(true)
    expect([o.useHeader, o.useBearer, o.useApiKeyScheme, o.useQuery]).toEqual([
      false,
      false,
      true,
      true,
    ])
    expect(o.queryParam).toBe('key')
    expect(o.getCredential).toBe(getCredential)
    expect(o.onDenied).toBe(onDenied)
    expect(o.errorBody).toBe(errorBody)
    expect(o.preflightPass).toBe(false)
    expect(o.realm).toHaveLength(64)
    expect(o.clock).toBe(clock)
    expect(o.cost).toBe(cost)
    expect(o.getClientIp).toBe(getClientIp)
    expect(o.trustedProxies).toBeNull()
    expect(o.failedAuth).toBeUndefined()
  })

  it('defaults: no scopes, the system clock, no trusted proxies', () => {
    const o = resolveApiKeyOptions({ keyward })
    expect(o.scopes).toEqual([])
    expect(o.clock).toBe(systemClock)
    expect(o.queryParam).toBe('api_key')
    expect(o.trustedProxies).toBeNull()
    expect(resolveApiKeyOptions({ keyward, preflight: 'pass' }).preflightPass).toBe(true)
    expect(resolveApiKeyOptions({ keyward, sources: [] }).sources).toEqual([])
  })

  it('takes trusted proxies as a list (none when empty) or compiled', () => {
    expect(resolveApiKeyOptions({ keyward, trustedProxies: [] }).trustedProxies).toBeNull()
    const listed = resolveApiKeyOptions({ keyward, trustedProxies: ['10.0.0.0/8'] }).trustedProxies
    expect(listed?.has('10.1.2.3')).toBe(true)
    expect(listed?.has('11.0.0.1')).toBe(false)
    const compiled = trustProxies(['192.0.2.0/24'])
    expect(resolveApiKeyOptions({ keyward, trustedProxies: compiled }).trustedProxies).toBe(
      compiled,
    )
  })

  it('takes failedAuth as numbers or as a limiter, whose own options are not checked here', () => {
    const numbers = { limit: 5, windowMs: 1000, ipv6PrefixBits: 48 }
    expect(resolveApiKeyOptions({ keyward, failedAuth: numbers }).failedAuth).toBe(numbers)
    const limiter = createFailedAuthLimiter()
    expect(resolveApiKeyOptions({ keyward, failedAuth: limiter }).failedAuth).toBe(limiter)
  })

  it('honours Idempotency-Key on the default methods for {}, and on any method name', () => {
    expect([...resolveApiKeyOptions({ keyward, idempotency: {} }).idempotencyMethods!]).toEqual([
      'POST',
      'PATCH',
    ])
    const methods = ['M-SEARCH', `P${'O'.repeat(31)}`, 'X']
    expect([
      ...resolveApiKeyOptions({ keyward, idempotency: { methods } }).idempotencyMethods!,
    ]).toEqual(methods)
  })

  it('warns about keys in URLs naming the parameter, once per logger', () => {
    const warnings: string[] = []
    const logger = { warn: (m: string) => warnings.push(m) }
    resolveApiKeyOptions({ keyward, sources: ['query'], queryParam: 'token', logger })
    expect(warnings).toEqual([
      'keyward: API keys are accepted in the "token" query parameter. URLs end up in access logs, browser history and Referer headers: prefer the X-API-Key header, and redact logged URLs with redactUrl() / redactRequest()',
    ])
    const other: string[] = []
    resolveApiKeyOptions({ keyward, sources: ['query'], logger: { warn: (m) => other.push(m) } })
    expect(other).toHaveLength(1)
  })

  it('warns through process.emitWarning by default, as a KeywardWarning', async () => {
    const seen: Error[] = []
    const listener = (w: Error) => seen.push(w)
    process.on('warning', listener)
    try {
      resolveApiKeyOptions({ keyward, sources: ['query'] })
      // emitWarning delivers on a later tick
      await new Promise((resolve) => setTimeout(resolve, 0))
    } finally {
      process.off('warning', listener)
    }
    const ours = seen.filter((w) => w.name === 'KeywardWarning')
    expect(ours).toHaveLength(1)
    expect(ours[0]!.message).toContain('accepted in the "api_key" query parameter')
  })
})

describe('checkScopes', () => {
  it('names the place it checks, and frees an empty list', () => {
    expect(checkScopes(undefined, 'route scopes')).toEqual([])
    expect(() => checkScopes('a:b', 'route scopes')).toThrow(
      'route scopes must be a list of scopes, e.g. ["orders:read"]',
    )
    expect(() => checkScopes([null], 'route scopes')).toThrow(
      'route scopes must contain strings, got object',
    )
  })
})

describe('resolveApiKeyOptions: unknown names, nested ones spelled in full', () => {
  it.each<[unknown, RegExp]>([
    [{ keyward, scope: [] }, /^unknown option "scope" for requireApiKey: expected one of /],
    [
      { keyward, failedAuth: { limit: 5, window: 1 } },
      /^unknown option "failedAuth.window" for requireApiKey: expected one of /,
    ],
    [
      { keyward, idempotency: { method: ['POST'] } },
      /^unknown option "idempotency.method" for requireApiKey: expected one of /,
    ],
  ])('%j', (input, message) => {
    expect(refusal(input).message).toMatch(message)
  })

  it('refuses a method that only its text would pass', () => {
    expect(refusal({ keyward, idempotency: { methods: [['POST']] } }).message).toBe(
      '"idempotency.methods" contains ["POST"]: use uppercase method names such as "POST"',
    )
  })
})

describe('usageTagOf', () => {
  it.each<[unknown, string | undefined]>([
    ['/orders/:id', '/orders/:id'],
    ['/orders?page=2', '/orders'],
    ['?page=2', undefined],
    ['', undefined],
    [42, undefined],
  ])('%j -> %j', (value, tag) => {
    expect(usageTagOf(value)).toBe(tag)
  })
})
