// Hostile tokens (issue 13, "must include" 3): each is refused with a TokenError and its code,
// never a crash, and nothing is fetched because a token asks for it. The cases are shared with
// the HTTP tests (test/fixtures/hostile-tokens.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hostileTokens } from '../../test/fixtures/hostile-tokens.js'
import {
  AUDIENCE,
  type CountingServer,
  countingServer,
  fakeClock,
  ISSUER,
  KEY_ID,
  testKey,
  tokenRefusal,
} from '../../test/fixtures/tokens.js'
import { createTokenVerifier, type TokenVerifier } from './verify.js'

const key = testKey()
let sink: CountingServer
let jwksServer: CountingServer
let local: TokenVerifier
let remote: TokenVerifier
const clock = fakeClock()
const { good, goodPayload, cases } = hostileTokens(key, testKey(key.kid), () => sink.url)

beforeAll(async () => {
  sink = await countingServer()
  jwksServer = await countingServer()
  jwksServer.respond({ keys: [key.jwk] })
  const base = { issuer: ISSUER, audience: AUDIENCE, clock }
  local = createTokenVerifier({ ...base, jwks: { keys: [key.jwk] } })
  remote = createTokenVerifier({ ...base, jwksUrl: `${jwksServer.url}/.well-known/jwks.json` })
})
afterAll(async () => {
  await sink.close()
  await jwksServer.close()
})

describe.each([
  ['a local key set', () => local],
  ['a remote key set', () => remote],
])('hostile tokens against %s', (_name, verifier) => {
  it('accepts the well-formed token they are made from', async () => {
    await expect(verifier().verify(good)).resolves.toMatchObject({ keyId: KEY_ID })
  })

  it.each(cases)('refuses %s', async (_case, token, code, message) => {
    const error = await tokenRefusal(verifier().verify(token() as string))
    expect(error.code).toBe(code)
    if (typeof message === 'string') expect(error.message).toBe(message)
    else if (message !== undefined) expect(error.message).toMatch(message)
    // the message never carries the token
    expect(error.message).not.toContain(goodPayload.slice(0, 20))
  })
})

describe('outbound requests', () => {
  it('none went to a URL a token named; the remote key set was fetched once', () => {
    expect(sink.requests).toEqual([])
    // the first remote verification fetched the set; unknown kids since then fell in the cooldown
    expect(jwksServer.requests).toEqual(['/.well-known/jwks.json'])
  })
})
