// What the service does while app.close() drains it: a request that arrives is refused with
// a problem+json 503 and its connection closed; the request in flight is answered, with
// `Connection: close`, so its client does not keep the connection open.
import { createServer, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../core/keyward.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { createService, SERVICE_IMPLIED_SCOPES } from './app.js'

let cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

async function keywardWithAdmin(): Promise<{ keyward: Keyward; admin: string }> {
  const keyward = await createKeyward({
    store: createMemoryStore(),
    peppers: [{ version: 1, secret: 'drain-test-pepper-0123456789abcdefghijklmnop' }],
    impliedScopes: SERVICE_IMPLIED_SCOPES,
  })
  cleanup.push(() => keyward.close())
  const { key } = await keyward.createKey({ name: 'admin', scopes: ['admin'] })
  return { keyward, admin: key }
}

function get(port: number, path: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = httpRequest({ port, host: '127.0.0.1', path }, (res) => {
        let body = ''
        res.on('data', (d) => {
          body += d
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      })
      req.on('error', reject)
      req.end()
    },
  )
}

it('answers requests that arrive during the drain with 503 problem+json, and the one in flight with Connection: close', async () => {
  const { keyward, admin } = await keywardWithAdmin()
  const app = await createService({ keyward })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const server = app.server
  const port = (server.address() as { port: number }).port

  // a creation in flight: headers sent, body not yet
  const arrived = new Promise<void>((resolve) => server.once('request', () => resolve()))
  const socket = connect(port, '127.0.0.1')
  let answer = ''
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  socket.on('data', (d) => {
    answer += d.toString()
  })
  const body = '{"name":"late"}'
  socket.write(
    `POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  )
  await arrived

  const closing = app.close()
  while (server.listening) await new Promise((resolve) => setImmediate(resolve))

  // a request reaching the app during the drain (as one sent on a kept-alive connection
  // does); the listening socket is closed, so a second server hands it over
  const side = createServer(app.routing)
  await new Promise<void>((resolve) => side.listen(0, '127.0.0.1', resolve))
  cleanup.push(() => new Promise((resolve) => side.close(() => resolve())))
  const late = await get((side.address() as { port: number }).port, '/healthz')
  expect(late.status).toBe(503)
  expect(late.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(late.headers.connection).toBe('close')
  expect(late.headers['retry-after']).toBeDefined()
  expect(JSON.parse(late.body)).toMatchObject({ code: 'service_unavailable', status: 503 })

  socket.write(body)
  await closed
  expect(answer).toMatch(/^HTTP\/1\.1 201 /)
  expect(answer).toMatch(/\r\nconnection: close\r\n/i)
  await closing
  expect((await keyward.listKeys()).items.map((k) => k.name).sort()).toEqual(['admin', 'late'])
})
