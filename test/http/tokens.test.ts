// Bearer access tokens through every adapter (node, express, fastify, hono): the same
// `requireApiKey` with `keyward: acceptTokens(…)`, over real HTTP. One table of requests, the
// hostile tokens of src/tokens (each 401, or 413 for size, never 500), revocation with and
// without a revocation list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import type { DeniedEvent } from '../../src/http/options.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { acceptTokens } from '../../src/tokens/accept.js'
import { createRevocationList, type RevocationList } from '../../src/tokens/revocations.js'
import { hostileTokens } from '../fixtures/hostile-tokens.js'
import {
  AUDIENCE,
  accessTokensBy,
  type CountingServer,
  countingServer,
  fakeClock,
  ISSUER,
  KEY_ID,
  NOW_SEC,
  PEPPERS,
  testKey,
} from '../fixtures/tokens.js'
import { ADAPTERS, type AppOptions, rawRequest, type RunningApp, startApp } from './apps.js'

const key = testKey()
const jwt = accessTokensBy(key)
const clock = fakeClock()
const base = { jwks: { keys: [key.jwk] }, issuer: ISSUER, audience: AUDIENCE, clock }

/** tokens: tokens only; both: keys and tokens; keys: a plain keyward; revocations: both, with a list. */
type Variant = 'tokens' | 'both' | 'keys' | 'revocations'

interface Fixture {
  apiKey: string
  apiKeyId: string
  /** A token issued for another key, revoked after it was issued. */
  revokedToken: string
  revokedKeyId: string
}

interface Case {
  name: string
  variant: Variant
  request: (f: Fixture) => { method?: string; headers: [string, string][] }
  expectStatus: number
  expectCode?: string
  expectKeyId?: (f: Fixture) => string
  expectChallenge?: string
}

const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`]
const INVALID_TOKEN = 'Bearer realm="keyward", error="invalid_token"'

const CASES: Case[] = [
  {
    name: 'a valid token fills req.apiKey from its sub',
    variant: 'tokens',
    request: () => ({ headers: [bearer(jwt())] }),
    expectStatus: 200,
    expectKeyId: () => KEY_ID,
  },
  {
    name: 'the bearer scheme in any case',
    variant: 'tokens',
    request: () => ({ headers: [['Authorization', `bEaReR ${jwt()}`]] }),
    expectStatus: 200,
  },
  {
    name: 'a token without the route scope is 403 naming it',
    variant: 'tokens',
    request: () => ({ method: 'POST', headers: [bearer(jwt())] }),
    expectStatus: 403,
    expectCode: 'insufficient_scope',
    expectChallenge: 'Bearer realm="keyward", error="insufficient_scope", scope="orders:write"',
  },
  {
    name: 'a token with a wildcard scope passes the write route',
    variant: 'tokens',
    request: () => ({ method: 'POST', headers: [bearer(jwt({ scope: 'orders:*' }))] }),
    expectStatus: 200,
  },
  {
    name: 'an expired token',
    variant: 'tokens',
    request: () => ({ headers: [bearer(jwt({ iat: NOW_SEC - 400, exp: NOW_SEC - 100 }))] }),
    expectStatus: 401,
    expectCode: 'token_expired',
    expectChallenge: INVALID_TOKEN,
  },
  {
    name: 'a token for another audience',
    variant: 'tokens',
    request: () => ({ headers: [bearer(jwt({ aud: 'https://other.example.com' }))] }),
    expectStatus: 401,
    expectCode: 'token_invalid',
    expectChallenge: INVALID_TOKEN,
  },
  {
    name: 'no credential',
    variant: 'tokens',
    request: () => ({ headers: [] }),
    expectStatus: 401,
    expectCode: 'key_missing',
    expectChallenge: 'Bearer realm="keyward"',
  },
  {
    name: 'tokens only: an API key as Bearer is token_invalid',
    variant: 'tokens',
    request: (f) => ({ headers: [bearer(f.apiKey)] }),
    expectStatus: 401,
    expectCode: 'token_invalid',
  },
  {
    name: 'tokens only: an API key in X-API-Key is token_invalid',
    variant: 'tokens',
    request: (f) => ({ headers: [['X-API-Key', f.apiKey]] }),
    expectStatus: 401,
    expectCode: 'token_invalid',
  },
  {
    name: 'keys only: a JWT as Bearer is key_invalid',
    variant: 'keys',
    request: () => ({ headers: [bearer(jwt())] }),
    expectStatus: 401,
    expectCode: 'key_invalid',
  },
  {
    name: 'keys and tokens: the key in X-API-Key',
    variant: 'both',
    request: (f) => ({ headers: [['X-API-Key', f.apiKey]] }),
    expectStatus: 200,
    expectKeyId: (f) => f.apiKeyId,
  },
  {
    name: 'keys and tokens: the key as Bearer',
    variant: 'both',
    request: (f) => ({ headers: [bearer(f.apiKey)] }),
    expectStatus: 200,
    expectKeyId: (f) => f.apiKeyId,
  },
  {
    name: 'keys and tokens: a token as Bearer',
    variant: 'both',
    request: () => ({ headers: [bearer(jwt())] }),
    expectStatus: 200,
    expectKeyId: () => KEY_ID,
  },
  {
    name: 'keys and tokens: a token in X-API-Key counts too (its shape decides)',
    variant: 'both',
    request: () => ({ headers: [['X-API-Key', jwt()]] }),
    expectStatus: 200,
    expectKeyId: () => KEY_ID,
  },
  {
    name: 'keys and tokens: a key and a token at once is ambiguous',
    variant: 'both',
    request: (f) => ({ headers: [['X-API-Key', f.apiKey], bearer(jwt())] }),
    expectStatus: 400,
    expectCode: 'key_ambiguous',
  },
  {
    name: 'without a revocation list, a revoked key`s token counts until it expires',
    variant: 'both',
    request: (f) => ({ headers: [bearer(f.revokedToken)] }),
    expectStatus: 200,
    expectKeyId: (f) => f.revokedKeyId,
  },
  {
    name: 'with a revocation list, a revoked key`s token is refused',
    variant: 'revocations',
    request: (f) => ({ headers: [bearer(f.revokedToken)] }),
    expectStatus: 401,
    expectCode: 'token_revoked',
    expectChallenge: INVALID_TOKEN,
  },
  {
    name: 'with a revocation list, other tokens still count',
    variant: 'revocations',
    request: () => ({ headers: [bearer(jwt())] }),
    expectStatus: 200,
  },
]

let keyward: Keyward
let revocations: RevocationList
let fixture: Fixture
const denied: DeniedEvent[] = []

beforeAll(async () => {
  keyward = await createKeyward({ store: createMemoryStore(), ...PEPPERS })
  const reader = await keyward.createKey({ name: 'reader', scopes: ['orders:read'] })
  const victim = await keyward.createKey({ name: 'victim', scopes: ['orders:read'] })
  revocations = createRevocationList({ changes: keyward, clock })
  await keyward.revokeKey(victim.record.id)
  fixture = {
    apiKey: reader.key,
    apiKeyId: reader.record.id,
    revokedToken: jwt({ sub: victim.record.id, client_id: victim.record.id }),
    revokedKeyId: victim.record.id,
  }
})

afterAll(async () => {
  revocations.close()
  await keyward.close()
})

function optionsFor(variant: Variant): AppOptions {
  const onDenied = (event: DeniedEvent) => denied.push(event)
  switch (variant) {
    case 'tokens':
      return { keyward: acceptTokens(base), onDenied }
    case 'keys':
      return { keyward, onDenied }
    case 'both':
      return { keyward: acceptTokens({ ...base, keyward }), onDenied }
    case 'revocations':
      return { keyward: acceptTokens({ ...base, keyward, revocations }), onDenied }
  }
}

describe.each(ADAPTERS)('%s with tokens', (adapter) => {
  const apps = new Map<Variant, RunningApp>()
  beforeAll(async () => {
    for (const variant of ['tokens', 'both', 'keys', 'revocations'] as const)
      apps.set(variant, await startApp(adapter, optionsFor(variant)))
  })
  afterAll(async () => {
    for (const app of apps.values()) await app.close()
  })

  it.each(CASES)('$name', async (c) => {
    const { method, headers } = c.request(fixture)
    const res = await rawRequest(apps.get(c.variant)!.port, { method: method ?? 'GET', headers })
    expect(res.status).toBe(c.expectStatus)
    if (c.expectStatus === 200) {
      if (c.expectKeyId) expect(JSON.parse(res.body).keyId).toBe(c.expectKeyId(fixture))
      return
    }
    const body = JSON.parse(res.body)
    if (c.expectCode) expect(body.code).toBe(c.expectCode)
    expect(res.headers['content-type']).toBe('application/problem+json')
    expect(res.headers['cache-control']).toBe('no-store')
    if (c.expectChallenge) expect(res.headers['www-authenticate']).toBe(c.expectChallenge)
    // no denial echoes the credential
    for (const [, value] of headers) expect(res.body).not.toContain(value.replace(/^Bearer /, ''))
  })

  it('onDenied hears why a token was refused (for logs), the caller only the code', async () => {
    denied.length = 0
    const res = await rawRequest(apps.get('tokens')!.port, {
      headers: [bearer(jwt({ iss: 'https://evil.example.com' }))],
    })
    expect(res.status).toBe(401)
    expect(denied).toHaveLength(1)
    expect(denied[0]).toMatchObject({ code: 'token_invalid', status: 401 })
    expect((denied[0]!.cause as Error).message).toMatch(/^the token was issued by another issuer/)
    expect(res.body).not.toContain('evil')
  })

  it('a 1 MB token on a server with the default header limit: 431 from Node, before any app code', async () => {
    const res = await rawRequest(apps.get('tokens')!.port, {
      headers: [bearer(`eyJ${'A'.repeat(1024 * 1024)}`)],
    })
    expect(res.status).toBe(431)
  })
})

describe.each(ADAPTERS)('%s: hostile tokens over HTTP (remote key set)', (adapter) => {
  let sink: CountingServer
  let jwksServer: CountingServer
  let app: RunningApp
  const { good, cases } = hostileTokens(key, testKey(key.kid), () => sink.url)
  // the function API is fed non-strings too; over HTTP a token is always text
  const NOT_TEXT = ['a number', 'undefined']
  const overHttp = cases.filter(([name]) => !NOT_TEXT.includes(name))
  if (overHttp.length !== cases.length - NOT_TEXT.length) throw new Error('NOT_TEXT is stale')

  beforeAll(async () => {
    sink = await countingServer()
    jwksServer = await countingServer()
    jwksServer.respond({ keys: [key.jwk] })
    const verifier = acceptTokens({
      jwksUrl: `${jwksServer.url}/.well-known/jwks.json`,
      issuer: ISSUER,
      audience: AUDIENCE,
      clock,
    })
    // headers up to 2 MB, so that the 1 MB token reaches keyward instead of Node's 431
    app = await startApp(adapter, { keyward: verifier }, { maxHeaderSize: 2 * 1024 * 1024 })
  })
  afterAll(async () => {
    await app.close()
    await sink.close()
    await jwksServer.close()
  })

  it('accepts the well-formed token they are made from', async () => {
    const res = await rawRequest(app.port, { headers: [bearer(good)] })
    expect(res.status).toBe(200)
  })

  it.each(overHttp)('refuses %s', async (_name, token, code) => {
    const res = await rawRequest(app.port, { headers: [bearer(token() as string)] })
    expect(res.status).toBe(code === 'token_too_large' ? 413 : 401)
    expect(JSON.parse(res.body).code).toBe(code)
  })

  it('fetched nothing a token named; the key set once', () => {
    expect(sink.requests).toEqual([])
    expect(jwksServer.requests).toEqual(['/.well-known/jwks.json'])
  })
})
