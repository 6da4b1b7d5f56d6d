// One table of request cases, run over real HTTP against every adapter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKey } from '../../src/core/key-format.js'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { ADAPTERS, type AppOptions, rawRequest, type RunningApp, startApp } from './apps.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]
const START = Date.UTC(2026, 0, 1)
const clock = {
  t: START,
  now() {
    return this.t
  },
}

type Variant = 'default' | 'apikey' | 'query' | 'down' | 'authenticate-preflight'

interface Keys {
  reader: string
  writer: string
  revoked: string
  expired: string
  remote: string
  local: string
  unknown: string
  badChecksum: string
}

interface Case {
  name: string
  variant?: Variant
  request: (k: Keys) => { method?: string; path?: string; headers?: [string, string][] }
  expectStatus: number
  expectCode?: string
}

function flip(c: string): string {
  return c === 'A' ? 'B' : 'A'
}

const CASES: Case[] = [
  { name: 'missing', request: () => ({}), expectStatus: 401, expectCode: 'key_missing' },
  {
    name: 'empty X-API-Key',
    request: () => ({ headers: [['X-API-Key', '']] }),
    expectStatus: 401,
    expectCode: 'key_invalid',
  },
  {
    name: 'whitespace-only X-API-Key',
    request: () => ({ headers: [['X-API-Key', '  \t ']] }),
    expectStatus: 401,
    expectCode: 'key_invalid',
  },
  {
    name: 'valid X-API-Key',
    request: (k) => ({ headers: [['X-API-Key', k.reader]] }),
    expectStatus: 200,
  },
  {
    name: 'surrounding whitespace is trimmed',
    request: (k) => ({ headers: [['X-API-Key', ` \t${k.reader}  `]] }),
    expectStatus: 200,
  },
  {
    name: 'whitespace inside is not normalised',
    request: (k) => ({
      headers: [['X-API-Key', `${k.reader.slice(0, 12)} ${k.reader.slice(12)}`]],
    }),
    expectStatus: 401,
    expectCode: 'key_invalid',
  },
  {
    name: 'bad checksum',
    request: (k) => ({ headers: [['X-API-Key', k.badChecksum]] }),
    expectStatus: 401,
    expectCode: 'key_invalid',
  },
  {
    name: 'unknown key',
    request: (k) => ({ headers: [['X-API-Key', k.unknown]] }),
    expectStatus: 401,
    expectCode: 'key_invalid',
  },
  {
    name: 'revoked key',
    request: (k) => ({ headers: [['X-API-Key', k.revoked]] }),
    expectStatus: 401,
    expectCode: 'key_revoked',
  },
  {
    name: 'expired key',
    request: (k) => ({ headers: [['X-API-Key', k.expired]] }),
    expectStatus: 401,
    expectCode: 'key_expired',
  },
  {
    name: 'wrong scope',
    request: (k) => ({ headers: [['X-API-Key', k.writer]] }),
    expectStatus: 403,
    expectCode: 'insufficient_scope',
  },
  {
    name: 'right scope on POST',
    request: (k) => ({ method: 'POST', headers: [['X-API-Key', k.writer]] }),
    expectStatus: 200,
  },
  {
    name: 'IP not in the allowlist',
    request: (k) => ({ headers: [['X-API-Key', k.remote]] }),
    expectStatus: 403,
    expectCode: 'ip_not_allowed',
  },
  {
    name: 'IP in the allowlist',
    request: (k) => ({ headers: [['X-API-Key', k.local]] }),
    expectStatus: 200,
  },
  {
    name: 'duplicate X-API-Key lines',
    request: (k) => ({
      headers: [
        ['X-API-Key', k.reader],
        ['X-API-Key', k.reader],
      ],
    }),
    expectStatus: 400,
    expectCode: 'key_ambiguous',
  },
  {
    name: 'X-API-Key joined "a, b" on one line',
    request: (k) => ({ headers: [['X-API-Key', `${k.reader}, ${k.writer}`]] }),
    expectStatus: 400,
    expectCode: 'key_ambiguous',
  },
  {
    name: 'two Authorization lines',
    request: (k) => ({
      headers: [
        ['Authorization', `Bearer ${k.reader}`],
        ['Authorization', `Bearer ${k.writer}`],
      ],
    }),
    expectStatus: 400,
    expectCode: 'key_ambiguous',
  },
  {
    name: 'X-API-Key and Bearer at once',
    request: (k) => ({
      headers: [
        ['X-API-Key', k.reader],
        ['Authorization', `Bearer ${k.reader}`],
      ],
    }),
    expectStatus: 400,
    expectCode: 'key_ambiguous',
  },
  {
    name: 'Bearer',
    request: (k) => ({ headers: [['Authorization', `Bearer ${k.reader}`]] }),
    expectStatus: 200,
  },
  {
    name: 'bearer in odd case',
    request: (k) => ({ headers: [['Authorization', `bEaReR   ${k.reader} `]] }),
    expectStatus: 200,
  },
  {
    name: 'Bearer without a token',
    request: () => ({ headers: [['Authorization', 'Bearer']] }),
    expectStatus: 401,
    expectCode: 'key_invalid',
  },
  {
    name: 'scheme glued to the key',
    request: (k) => ({ headers: [['Authorization', `Bearer${k.reader}`]] }),
    expectStatus: 401,
    expectCode: 'key_missing',
  },
  {
    name: 'Basic credentials are not an API key',
    request: () => ({ headers: [['Authorization', 'Basic dXNlcjpwYXNz']] }),
    expectStatus: 401,
    expectCode: 'key_missing',
  },
  {
    name: 'ApiKey scheme, off by default',
    request: (k) => ({ headers: [['Authorization', `ApiKey ${k.reader}`]] }),
    expectStatus: 401,
    expectCode: 'key_missing',
  },
  {
    name: 'ApiKey scheme, on',
    variant: 'apikey',
    request: (k) => ({ headers: [['Authorization', `apikey ${k.reader}`]] }),
    expectStatus: 200,
  },
  {
    name: 'query parameter, off by default',
    request: (k) => ({ path: `/orders?api_key=${k.reader}` }),
    expectStatus: 401,
    expectCode: 'key_missing',
  },
  {
    name: 'query parameter, on',
    variant: 'query',
    request: (k) => ({ path: `/orders?page=2&api_key=${k.reader}` }),
    expectStatus: 200,
  },
  {
    name: 'query parameter twice',
    variant: 'query',
    request: (k) => ({ path: `/orders?api_key=${k.reader}&api_key=${k.reader}` }),
    expectStatus: 400,
    expectCode: 'key_ambiguous',
  },
  {
    name: 'query parameter and header',
    variant: 'query',
    request: (k) => ({ path: `/orders?api_key=${k.reader}`, headers: [['X-API-Key', k.reader]] }),
    expectStatus: 400,
    expectCode: 'key_ambiguous',
  },
  {
    name: 'store down',
    variant: 'down',
    request: (k) => ({ headers: [['X-API-Key', k.reader]] }),
    expectStatus: 503,
    expectCode: 'store_unavailable',
  },
  {
    name: 'HEAD without a key',
    request: () => ({ method: 'HEAD' }),
    expectStatus: 401,
    expectCode: 'key_missing',
  },
  {
    name: 'HEAD with a key',
    request: (k) => ({ method: 'HEAD', headers: [['X-API-Key', k.reader]] }),
    expectStatus: 200,
  },
  {
    name: 'CORS preflight passes by default',
    request: () => ({
      method: 'OPTIONS',
      headers: [
        ['Origin', 'https://app.example'],
        ['Access-Control-Request-Method', 'GET'],
      ],
    }),
    expectStatus: 204,
  },
  {
    name: 'CORS preflight authenticated when asked',
    variant: 'authenticate-preflight',
    request: () => ({
      method: 'OPTIONS',
      headers: [
        ['Origin', 'https://app.example'],
        ['Access-Control-Request-Method', 'GET'],
      ],
    }),
    expectStatus: 401,
    expectCode: 'key_missing',
  },
  {
    name: 'OPTIONS that is not a preflight',
    request: () => ({ method: 'OPTIONS' }),
    expectStatus: 401,
    expectCode: 'key_missing',
  },
  { name: 'open route', request: () => ({ path: '/health' }), expectStatus: 200 },
]

const VARIANT_OPTIONS: Record<Exclude<Variant, 'down'>, Omit<AppOptions, 'keyward'>> = {
  default: {},
  apikey: { sources: ['x-api-key', 'bearer', 'apikey'] },
  query: { sources: ['x-api-key', 'bearer', 'query'], logger: { warn() {} } },
  'authenticate-preflight': { preflight: 'authenticate' },
}

const CHALLENGES: Record<string, string | undefined> = {
  key_missing: 'Bearer realm="keyward"',
  key_invalid: 'Bearer realm="keyward", error="invalid_token"',
  key_revoked: 'Bearer realm="keyward", error="invalid_token"',
  key_expired: 'Bearer realm="keyward", error="invalid_token"',
  key_ambiguous: 'Bearer realm="keyward", error="invalid_request"',
  insufficient_scope: 'Bearer realm="keyward", error="insufficient_scope", scope="orders:read"',
}

let keyward: Keyward
let downKeyward: Keyward
let keys: Keys
const apps = new Map<string, RunningApp>()

beforeAll(async () => {
  keyward = await createKeyward({ store: createMemoryStore(), peppers: PEPPER, clock })
  const make = async (input: Parameters<Keyward['createKey']>[0]) =>
    (await keyward.createKey(input)).key
  const reader = await make({ name: 'reader', scopes: ['orders:read'] })
  const revoked = await keyward.createKey({ name: 'revoked', scopes: ['orders:read'] })
  await keyward.revokeKey(revoked.record.id)
  const expired = await make({ name: 'expired', scopes: ['orders:read'], expiresInMs: 60_000 })
  clock.t += 120_000
  keys = {
    reader,
    writer: await make({ name: 'writer', scopes: ['orders:write'] }),
    revoked: revoked.key,
    expired,
    remote: await make({
      name: 'remote',
      scopes: ['orders:read'],
      ipAllowlist: ['203.0.113.0/24'],
    }),
    local: await make({ name: 'local', scopes: ['orders:read'], ipAllowlist: ['127.0.0.1'] }),
    unknown: generateKey(),
    badChecksum: reader.slice(0, -1) + flip(reader.slice(-1)),
  }
  const downStore = createMemoryStore()
  downKeyward = await createKeyward({ store: downStore, peppers: PEPPER, clock })
  await downStore.close()
})

afterAll(async () => {
  for (const app of apps.values()) await app.close()
  await keyward?.close()
})

async function appFor(adapter: (typeof ADAPTERS)[number], variant: Variant): Promise<RunningApp> {
  const id = `${adapter}:${variant}`
  let app = apps.get(id)
  if (app === undefined) {
    const options: AppOptions =
      variant === 'down' ? { keyward: downKeyward } : { keyward, ...VARIANT_OPTIONS[variant] }
    app = await startApp(adapter, options)
    apps.set(id, app)
  }
  return app
}

describe.each(ADAPTERS)('%s adapter', (adapter) => {
  it.each(CASES)('$name -> $expectStatus $expectCode', async (c) => {
    const app = await appFor(adapter, c.variant ?? 'default')
    const request = c.request(keys)
    const res = await rawRequest(app.port, request)
    expect(res.status).toBe(c.expectStatus)
    for (const key of Object.values(keys)) {
      expect(res.body).not.toContain(key)
      expect(JSON.stringify(res.headers)).not.toContain(key)
    }
    if (c.expectStatus < 400) return
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['www-authenticate']).toBe(CHALLENGES[c.expectCode!])
    expect(res.headers['retry-after']).toBe(c.expectStatus === 503 ? '5' : undefined)
    if (request.method === 'HEAD') return
    expect(res.headers['content-type']).toBe('application/problem+json')
    const body = JSON.parse(res.body)
    expect(body).toMatchObject({
      type: `urn:keyward:problem:${c.expectCode}`,
      status: c.expectStatus,
      code: c.expectCode,
    })
    expect(body.title).toEqual(expect.any(String))
    expect(body.detail).toMatch(/\.$/)
    expect(res.body).not.toMatch(/\bat .*\.(?:ts|js):\d+/)
    if (c.expectCode === 'insufficient_scope') {
      expect(body.missingScopes).toEqual(['orders:read'])
      expect(body.detail).toContain('orders:read')
    }
    if (c.expectCode === 'key_missing') expect(body.detail).toContain('X-API-Key header')
  })
})
