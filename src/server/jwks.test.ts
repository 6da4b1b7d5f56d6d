import { createLocalJWKSet, jwtVerify } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { startService, startSigningService, type TestService } from '../../test/helpers/service.js'

const running: TestService[] = []
afterEach(async () => {
  for (const s of running.splice(0)) await s.close()
})

describe('GET /.well-known/jwks.json', () => {
  it('publishes the public signing keys without a key, and they verify what the signer issues', async () => {
    const svc = await startSigningService()
    running.push(svc)
    const { signer } = svc
    const res = await svc.call('GET', '/.well-known/jwks.json', { key: null })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('public, max-age=60')
    expect(res.body.keys).toHaveLength(1)
    const [jwk] = res.body.keys
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
    expect(jwk).not.toHaveProperty('d') // never the private part
    const { token } = await signer.issueAccessToken({
      keyId: svc.adminId,
      scopes: ['keys:read'],
      audience: 'https://api.example.com',
    })
    const { payload } = await jwtVerify(token, createLocalJWKSet(res.body), {
      algorithms: ['EdDSA'],
      issuer: svc.url,
      audience: 'https://api.example.com',
    })
    expect(payload.sub).toBe(svc.adminId)
  })

  it('is absent when the service signs nothing', async () => {
    const svc = await startService()
    running.push(svc)
    expect((await svc.call('GET', '/.well-known/jwks.json', { key: null })).status).toBe(401)
    expect((await svc.call('GET', '/.well-known/jwks.json')).status).toBe(404)
  })
})
