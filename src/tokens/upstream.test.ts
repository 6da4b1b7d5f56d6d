import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type CountingServer,
  countingServer,
  ISSUER,
  KEY_ID,
  PEPPERS,
  tokenRefusal,
} from '../../test/fixtures/tokens.js'
import { KeywardError } from '../core/errors.js'
import { createMemoryStore } from '../stores/memory/memory-store.js'
import { TokenError } from './errors.js'
import { createTokenSigner, type TokenSigner } from './signer.js'
import { type KeywardTokenOptions, verifyKeywardToken } from './upstream.js'

const UPSTREAM = 'http://127.0.0.1:3000'
const closers: (() => unknown)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

/** A signer on the real clock, or `agoMs` behind it. */
async function setup(agoMs = 0): Promise<{ signer: TokenSigner; options: KeywardTokenOptions }> {
  const clock = { now: () => Date.now() - agoMs }
  const signer = await createTokenSigner({
    store: createMemoryStore(),
    secrets: PEPPERS,
    issuer: ISSUER,
    clock,
  })
  closers.push(() => signer.close())
  return { signer, options: { keys: signer.jwks(), issuer: ISSUER, audience: UPSTREAM } }
}

const identity = (signer: TokenSigner, audience = UPSTREAM) =>
  signer.issueIdentityToken({
    keyId: KEY_ID,
    scopes: ['orders:read', 'orders:write'],
    audience,
    ownerId: 'team:a',
  })

describe('verifyKeywardToken', () => {
  it('returns who called, from a local key set', async () => {
    const { signer, options } = await setup()
    const token = await identity(signer)
    const who = await verifyKeywardToken(token, { ...options, clockToleranceSec: 0 })
    expect(who).toEqual({
      keyId: KEY_ID,
      scopes: ['orders:read', 'orders:write'],
      ownerId: 'team:a',
      tokenId: expect.any(String),
      expiresAt: expect.any(Number),
    })
  })

  it('checks the header of a real request against the JWKS URL', async () => {
    const { signer: live } = await setup()
    const { signer: forger } = await setup()
    const jwksServer: CountingServer = await countingServer()
    closers.push(() => jwksServer.close())
    jwksServer.respond(live.jwks())
    const options = {
      jwksUrl: `${jwksServer.url}/.well-known/jwks.json`,
      issuer: ISSUER,
      audience: UPSTREAM,
    }
    const app = createServer(async (req, res) => {
      try {
        const who = await verifyKeywardToken(req.headers['x-keyward-token'], options)
        res.end(JSON.stringify(who))
      } catch (e) {
        res.statusCode = e instanceof TokenError && e.code === 'jwks_unavailable' ? 503 : 401
        res.end((e as Error).message)
      }
    })
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
    closers.push(() => new Promise((r) => app.close(r)))
    const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}/`
    const ok = await fetch(url, { headers: { 'x-keyward-token': await identity(live) } })
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as { keyId: string }).keyId).toBe(KEY_ID)
    const missing = await fetch(url)
    expect([missing.status, await missing.text()]).toEqual([
      401,
      'no X-Keyward-Token: the request did not come through keyward serve --upstream',
    ])
    const forged = await fetch(url, { headers: { 'x-keyward-token': await identity(forger) } })
    expect(forged.status).toBe(401)
    const twice = await fetch(url, {
      headers: [
        ['x-keyward-token', await identity(live)],
        ['x-keyward-token', await identity(live)],
      ],
    })
    expect(twice.status).toBe(401)
    expect(jwksServer.requests).toHaveLength(1)
  })

  it('refuses a token for another upstream, from another issuer, expired, or an access token', async () => {
    const { signer, options } = await setup()
    expect(
      (
        await tokenRefusal(
          verifyKeywardToken(await identity(signer, 'http://127.0.0.1:4000'), options),
        )
      ).message,
    ).toMatch(/^the token is not meant for this service/)
    expect(
      (
        await tokenRefusal(
          verifyKeywardToken(await identity(signer), {
            ...options,
            issuer: 'https://other.example.com',
          }),
        )
      ).message,
    ).toMatch(/^the token was issued by another issuer/)
    const access = await signer.issueAccessToken({ keyId: KEY_ID, scopes: [], audience: UPSTREAM })
    expect((await tokenRefusal(verifyKeywardToken(access.token, options))).message).toMatch(
      /^the token has the wrong type/,
    )
    // signed 66 s ago: 60 s lifetime + 5 s default tolerance + 1
    const old = await setup(66_000)
    const expired = await tokenRefusal(verifyKeywardToken(await identity(old.signer), old.options))
    expect(expired.code).toBe('token_expired')
    const fresh = await setup(64_000)
    await expect(
      verifyKeywardToken(await identity(fresh.signer), fresh.options),
    ).resolves.toMatchObject({ keyId: KEY_ID })
  })

  it('refuses no token, an empty one, a repeated header, and bad options', async () => {
    const { options } = await setup()
    expect((await tokenRefusal(verifyKeywardToken(undefined, options))).code).toBe('token_invalid')
    expect((await tokenRefusal(verifyKeywardToken('', options))).code).toBe('token_invalid')
    expect((await tokenRefusal(verifyKeywardToken(['a', 'b'], options))).message).toBe(
      'X-Keyward-Token was sent more than once',
    )
    await expect(verifyKeywardToken('a.b.c', null as never)).rejects.toBeInstanceOf(KeywardError)
    await expect(
      verifyKeywardToken('a.b.c', { issuer: ISSUER, audience: UPSTREAM }),
    ).rejects.toMatchObject({ code: 'invalid_options' })
    await expect(
      verifyKeywardToken('a.b.c', { ...options, clock: { now: () => 0 } } as never),
    ).rejects.toMatchObject({
      code: 'invalid_options',
      message: expect.stringMatching(/^unknown option "clock" for verifyKeywardToken/),
    })
  })
})
