// `keyward serve --upstream` as an operator runs it (the built CLI): upstreams and route rules
// from the config file, checked at start (a mistake is one line and exit code 2); a request
// forwarded with a token the upstream verifies against the node's own JWKS URL.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyKeywardToken } from '../../src/tokens/upstream.js'
import {
  bootstrapKey,
  requireBuild,
  spawnServe,
  stopServe,
  tempDir,
} from '../fixtures/serve-process.js'
import { startUpstream, type Upstream } from '../fixtures/upstream.js'

beforeAll(requireBuild)

describe('proxy configuration mistakes, on the real process', () => {
  it.each([
    {
      args: ['--upstream', 'http://127.0.0.1:3000/api'],
      line: 'upstream "http://127.0.0.1:3000/api" from --upstream is not valid: use an http(s) URL with no path',
    },
    {
      args: ['--upstream', 'http://127.0.0.1:3000', '--config', 'keyward.json'],
      file: { routes: [{ method: 'GET', path: '/orders/../admin', scopes: [] }] },
      line: 'routes[0].path in keyward.json "/orders/../admin" must be written in normal form',
    },
    {
      args: ['--config', 'keyward.json'],
      file: { routes: [{ method: 'GET', path: '/a', scopes: [] }] },
      line: '"routes" in keyward.json need an upstream to forward to',
    },
    {
      args: ['--config', 'keyward.json'],
      file: { upstream: 'http://127.0.0.1:3000', routes: [{ method: 'GET', path: '/a' }] },
      line: 'routes[0] in keyward.json needs "scopes"',
    },
  ])('$line: one line, exit code 2', async ({ args, line, ...rest }) => {
    const dir = tempDir()
    if ('file' in rest) writeFileSync(join(dir, 'keyward.json'), JSON.stringify(rest.file))
    const child = spawnServe([...args, '--db', `sqlite:${join(dir, 'k.db')}`], { cwd: dir })
    expect(await child.exited).toBe(2)
    const lines = child.stderr().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toContain(`keyward: ${line}`)
  })
})

describe('keyward serve in front of a service', () => {
  let upstream: Upstream
  let child: ReturnType<typeof spawnServe>
  let base: string
  let admin: string
  beforeAll(async () => {
    upstream = await startUpstream()
    const dir = tempDir()
    writeFileSync(
      join(dir, 'keyward.json'),
      JSON.stringify({
        upstream: upstream.url,
        routes: [
          { method: 'GET', path: '/orders/**', scopes: ['orders:read'] },
          { method: 'GET', path: '/health', public: true },
        ],
      }),
    )
    child = spawnServe(['--port', '0', '--config', 'keyward.json'], { cwd: dir })
    base = await child.listening()
    admin = bootstrapKey(child.stderr())!
  })
  afterAll(async () => {
    expect(await stopServe(child)).toBe(0)
    await upstream.close()
  })

  it('says where it forwards, and forwards with a token the upstream verifies', async () => {
    expect(child.stderr()).toContain(
      `keyward: forwarding / -> ${upstream.url}; 2 route rules, other paths refused`,
    )
    const created = await fetch(`${base}/v1/keys`, {
      method: 'POST',
      headers: { 'x-api-key': admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'orders client', owner: 'shop', scopes: ['orders:read'] }),
    }).then((r) => r.json() as Promise<{ key: string; id: string }>)
    const res = await fetch(`${base}/orders/42?expand=items`, {
      headers: { authorization: `Bearer ${created.key}` },
    })
    expect(res.status).toBe(200)
    const got = upstream.last()
    expect(got.url).toBe('/orders/42?expand=items')
    expect(got.headers.authorization).toBeUndefined()
    const identity = await verifyKeywardToken(got.headers['x-keyward-token'] as string, {
      jwksUrl: `${base}/.well-known/jwks.json`,
      issuer: base,
      audience: upstream.url,
    })
    expect(identity).toMatchObject({ keyId: created.id, ownerId: 'shop', scopes: ['orders:read'] })
    expect(JSON.stringify(got.rawHeaders)).not.toContain(created.key)

    expect((await fetch(`${base}/health`)).status).toBe(200)
    const refused = await fetch(`${base}/admin`, { headers: { 'x-api-key': created.key } })
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as { code: string }).code).toBe('route_not_allowed')
  })

  it('takes an access token from /oauth/token as well as a key: the upstream sees the token`s key and its narrowed scopes', async () => {
    const created = await fetch(`${base}/v1/keys`, {
      method: 'POST',
      headers: { 'x-api-key': admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'token client',
        owner: 'billing',
        scopes: ['orders:read', 'orders:write'],
      }),
    }).then((r) => r.json() as Promise<{ key: string; id: string }>)
    const token = async (scope: string) => {
      const res = await fetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'x-api-key': created.key, 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&scope=${encodeURIComponent(scope)}`,
      })
      expect(res.status).toBe(200)
      return ((await res.json()) as { access_token: string }).access_token
    }
    const readToken = await token('orders:read')
    const res = await fetch(`${base}/orders/7`, {
      headers: { authorization: `Bearer ${readToken}` },
    })
    expect(res.status).toBe(200)
    const got = upstream.last()
    expect(got.url).toBe('/orders/7')
    expect(got.headers.authorization).toBeUndefined()
    expect(JSON.stringify(got.rawHeaders)).not.toContain(readToken)
    expect(got.headers['x-keyward-key-id']).toBe(created.id)
    expect(got.headers['x-keyward-owner']).toBe('billing')
    expect(got.headers['x-keyward-scopes']).toBe('orders:read')
    const identity = await verifyKeywardToken(got.headers['x-keyward-token'] as string, {
      jwksUrl: `${base}/.well-known/jwks.json`,
      issuer: base,
      audience: upstream.url,
    })
    expect(identity).toMatchObject({
      keyId: created.id,
      ownerId: 'billing',
      scopes: ['orders:read'],
    })

    // a token narrowed to orders:write may not use a route that needs orders:read
    const writeToken = await token('orders:write')
    const narrowed = await fetch(`${base}/orders/7`, {
      headers: { authorization: `Bearer ${writeToken}` },
    })
    expect(narrowed.status).toBe(403)
    expect(((await narrowed.json()) as { code: string }).code).toBe('insufficient_scope')

    // revoking the key ends its live token at the proxy at once (the revocation list)
    expect(
      (
        await fetch(`${base}/v1/keys/${created.id}`, {
          method: 'DELETE',
          headers: { 'x-api-key': admin },
        })
      ).status,
    ).toBe(200)
    const after = await fetch(`${base}/orders/7`, {
      headers: { authorization: `Bearer ${readToken}` },
    })
    expect(after.status).toBe(401)
  })
})
