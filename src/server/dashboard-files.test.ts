// The dashboard's files as the service serves them: from memory, with the security headers on
// every answer, screens falling back to index.html, and a clear answer when it was not built.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startService, type TestService } from '../../test/helpers/service.js'

let dir: string
let svc: TestService
const INDEX = '<!doctype html><script type="module" src="/dashboard/assets/app-1234.js"></script>'

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-dashboard-'))
  mkdirSync(join(dir, 'assets'))
  writeFileSync(join(dir, 'index.html'), INDEX)
  writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log(1)')
  writeFileSync(join(dir, 'notes.md'), 'not served: not a known type')
  svc = await startService({ service: { dashboard: { dir } } })
})
afterAll(async () => {
  await svc.close()
  rmSync(dir, { recursive: true, force: true })
})

function expectSecurityHeaders(headers: Headers) {
  expect(headers.get('content-security-policy')).toBe(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  )
  expect(headers.get('x-frame-options')).toBe('DENY')
  expect(headers.get('x-content-type-options')).toBe('nosniff')
  expect(headers.get('referrer-policy')).toBe('no-referrer')
}

describe('dashboard files', () => {
  it('serves index.html for every screen, without a key, never cached stale', async () => {
    for (const path of ['/dashboard/', '/dashboard/keys', '/dashboard/keys/key_0123456789abcdef', '/dashboard/audit']) {
      const res = await svc.call('GET', path, { key: null })
      expect({ path, status: res.status }).toEqual({ path, status: 200 })
      expect(res.text).toBe(INDEX)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(res.headers.get('cache-control')).toBe('no-cache')
      expectSecurityHeaders(res.headers)
    }
  })

  it('serves built assets as immutable, with an ETag that answers 304', async () => {
    const res = await svc.call('GET', '/dashboard/assets/app-1234.js', { key: null })
    expect(res.status).toBe(200)
    expect(res.text).toBe('console.log(1)')
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    const etag = res.headers.get('etag')!
    const again = await svc.call('GET', '/dashboard/assets/app-1234.js', { key: null, headers: { 'if-none-match': etag } })
    expect(again.status).toBe(304)
  })

  it('answers 404 (with the headers) for a file that is not there, an API path, or a type it does not serve', async () => {
    for (const path of ['/dashboard/assets/other.js', '/dashboard/api/nothing', '/dashboard/notes.md', '/dashboard/x.php']) {
      const res = await svc.call('GET', path, { key: null })
      expect({ path, status: res.status }).toEqual({ path, status: 404 })
      expect(res.body.code).toBe('not_found')
      expectSecurityHeaders(res.headers)
    }
  })

  it('redirects /dashboard to /dashboard/ so relative links resolve', async () => {
    const res = await fetch(`${svc.url}/dashboard`, { redirect: 'manual' })
    expect(res.status).toBe(308)
    expect(res.headers.get('location')).toBe('/dashboard/')
  })

  it('says how to build it when the files are missing', async () => {
    const bare = await startService({ service: { dashboard: { dir: join(dir, 'missing') } } })
    try {
      const res = await bare.call('GET', '/dashboard/', { key: null })
      expect(res.status).toBe(503)
      expect(res.body.detail).toContain('npm run build')
      // the session endpoints do not depend on the files
      expect((await bare.call('POST', '/dashboard/api/session', { key: null, headers: { authorization: `Bearer ${bare.adminKey}` } })).status).toBe(201)
    } finally {
      await bare.close()
    }
  })
})
