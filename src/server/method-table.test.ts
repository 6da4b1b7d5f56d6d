// Which paths the service calls its own (never forwarded by the proxy) and which methods each
// has: the first-segment lookup must never answer "not ours" where the routes' patterns match.
import { describe, expect, it } from 'vitest'
import { MethodTable } from './method-table.js'

function table(routes: Record<string, string[]>): MethodTable {
  const t = new MethodTable()
  for (const [url, methods] of Object.entries(routes)) t.add(url, methods)
  return t
}

describe('MethodTable', () => {
  const service = table({
    '/v1/keys': ['GET', 'POST'],
    '/v1/keys/:id': ['GET', 'PATCH', 'DELETE'],
    '/healthz': ['GET', 'HEAD'],
    '/': ['GET'],
  })

  it('serves the paths its patterns match, parameters standing for one segment', () => {
    expect(['/v1/keys', '/v1/keys/key_1', '/healthz', '/'].map((p) => service.serves(p))).toEqual([
      true,
      true,
      true,
      true,
    ])
  })

  it('does not serve other paths, whether or not their first segment is one of its own', () => {
    for (const path of [
      '/orders/1',
      '/v1',
      '/v1/keys/key_1/more',
      '/v1/other',
      '/healthz/x',
      '/V1/keys',
    ])
      expect(service.serves(path), path).toBe(false)
  })

  it('serves any first segment once a route starts with a parameter', () => {
    const t = table({ '/healthz': ['GET'], '/:tenant/orders': ['GET'] })
    expect(t.serves('/acme/orders')).toBe(true)
    expect(t.serves('/acme/invoices')).toBe(false)
    expect(t.serves('/healthz')).toBe(true)
    // and the same when the parameter route came first
    const first = table({ '/:tenant/orders': ['GET'], '/healthz': ['GET'] })
    expect(first.serves('/acme/orders')).toBe(true)
  })

  it('serves a route added after the first question', () => {
    const t = table({ '/healthz': ['GET'] })
    expect(t.serves('/metrics')).toBe(false)
    t.add('/metrics', ['GET'])
    expect(t.serves('/metrics')).toBe(true)
  })

  it('serves nothing without routes', () => {
    expect(new MethodTable().serves('/')).toBe(false)
  })

  it('lists the methods of every pattern a path matches', () => {
    expect(service.allowed('/v1/keys/key_1')).toEqual(['GET', 'PATCH', 'DELETE'])
    const t = table({ '/v1/keys/:id': ['GET'], '/v1/keys/stats': ['POST'] })
    t.add('/v1/keys/:id', ['DELETE'])
    expect(t.allowed('/v1/keys/stats')).toEqual(['GET', 'DELETE', 'POST'])
    expect(t.allowed('/orders')).toEqual([])
  })
})
