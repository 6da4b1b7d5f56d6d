// Bodies and failures through the proxy: 100 MB streamed each way, a body past a route's
// limit (413, before or while it streams), an upstream that refuses connections (502), hangs
// (504), breaks the connection mid-upload (502) or mid-answer (the caller's response is cut).
import { createHash } from 'node:crypto'
import { request } from 'node:http'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../fixtures/redis-server.js'
import { type ProxiedService, startProxy } from '../helpers/proxy.js'

const MB = 1024 * 1024

/** `total` bytes of a repeating pattern, produced as read (never held in memory). */
function pattern(total: number): { stream: Readable; sha256: string } {
  const block = Buffer.alloc(64 * 1024)
  for (let i = 0; i < block.length; i++) block[i] = (i * 31) % 251
  const hash = createHash('sha256')
  for (let left = total; left > 0; left -= block.length)
    hash.update(left >= block.length ? block : block.subarray(0, left))
  let left = total
  const stream = new Readable({
    read() {
      if (left <= 0) return void this.push(null)
      const n = Math.min(left, block.length)
      left -= n
      this.push(n === block.length ? block : block.subarray(0, n))
    },
  })
  return { stream, sha256: hash.digest('hex') }
}

interface Sent {
  status: number
  body: string
  bytes: number
  sha256: string
  /** The response broke off (connection reset, short body). */
  error?: string
}

/** Streams `body` (with Content-Length when `length` is given, else chunked) and reads the answer. */
function send(
  port: number,
  path: string,
  key: string,
  body?: { stream: Readable; length?: number },
  method = body === undefined ? 'GET' : 'POST',
): Promise<Sent> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = {
      'x-api-key': key,
      'content-type': 'application/octet-stream',
    }
    if (body?.length !== undefined) headers['content-length'] = body.length
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const hash = createHash('sha256')
      let bytes = 0
      let text = ''
      res.on('data', (c: Buffer) => {
        bytes += c.length
        hash.update(c)
        if (text.length < 2000) text += c.toString('latin1')
      })
      let settled = false
      const done = (error?: string) => {
        if (settled) return
        settled = true
        resolve({
          status: res.statusCode ?? 0,
          body: text,
          bytes,
          sha256: hash.digest('hex'),
          ...(error === undefined ? {} : { error }),
        })
      }
      res.on('end', () => done())
      res.on('error', (e) => done(e.message))
      res.on('aborted', () => done('aborted'))
    })
    // an answer before the whole body was sent (413) may reset the upload: that is fine
    req.on('error', (e) => resolve({ status: 0, body: '', bytes: 0, sha256: '', error: e.message }))
    if (body === undefined) req.end()
    else body.stream.pipe(req)
  })
}

describe('bodies', () => {
  let svc: ProxiedService
  let key: string
  beforeAll(async () => {
    svc = await startProxy({
      routes: [
        { method: 'POST', path: '/limited', scopes: [], maxBodyBytes: MB },
        { method: '*', path: '/**', scopes: [] },
      ],
    })
    ;({ key } = await svc.createKey({ name: 'streamer' }))
  })
  afterAll(() => svc.close())

  it('streams a 100 MB upload to the upstream, with and without Content-Length', async () => {
    for (const length of [100 * MB, undefined]) {
      const body = pattern(100 * MB)
      const res = await send(svc.port, '/upload', key, {
        stream: body.stream,
        ...(length === undefined ? {} : { length }),
      })
      expect(res.status).toBe(200)
      const got = svc.upstream.last()
      expect(got).toMatchObject({ bytes: 100 * MB, sha256: body.sha256, complete: true })
      expect(got.headers['content-length']).toBe(length === undefined ? undefined : String(length))
    }
  }, 60_000)

  it('streams a 100 MB download back', async () => {
    const res = await send(svc.port, `/download?bytes=${100 * MB}`, key)
    expect(res.status).toBe(200)
    expect(res.bytes).toBe(100 * MB)
    const zeros = createHash('sha256')
    const block = Buffer.alloc(MB)
    for (let i = 0; i < 100; i++) zeros.update(block)
    expect(res.sha256).toBe(zeros.digest('hex'))
  }, 60_000)

  it('answers 413 to a 100 MB body on a route limited to 1 MiB, before the upstream hears of it', async () => {
    const before = svc.upstream.received.length
    const res = await send(svc.port, '/limited', key, {
      stream: pattern(100 * MB).stream,
      length: 100 * MB,
    })
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body)).toMatchObject({ code: 'body_too_large', status: 413 })
    expect(svc.upstream.received.length).toBe(before)
  }, 60_000)

  it('stops a chunked 100 MB body at the limit: 413, and the upstream gets an unfinished request', async () => {
    const before = svc.upstream.received.length
    const res = await send(svc.port, '/limited', key, { stream: pattern(100 * MB).stream })
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body).code).toBe('body_too_large')
    const got = svc.upstream.received.slice(before)
    // undici may not have opened the upstream request yet when the limit was passed
    for (const r of got) {
      expect(r.complete).toBe(false)
      expect(r.bytes).toBeLessThanOrEqual(MB)
    }
    // a body within the limit still passes
    const small = pattern(MB)
    const ok = await send(svc.port, '/limited', key, { stream: small.stream })
    expect(ok.status).toBe(200)
    expect(svc.upstream.last()).toMatchObject({ bytes: MB, sha256: small.sha256 })
  }, 60_000)
})

describe('upstream failures', () => {
  let svc: ProxiedService
  let key: string
  beforeAll(async () => {
    svc = await startProxy({ timeoutMs: 300 })
    ;({ key } = await svc.createKey({ name: 'caller' }))
  })
  afterAll(() => svc.close())

  it('answers 504 problem+json when the upstream does not answer in time', async () => {
    const res = await svc.call('GET', '/hang', { key })
    expect(res.status).toBe(504)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.body).toMatchObject({ code: 'upstream_timeout', status: 504 })
    // and keeps serving
    expect((await svc.call('GET', '/after', { key })).status).toBe(200)
  })

  it('answers 502 when the upstream drops the connection during the upload', async () => {
    const res = await send(svc.port, '/drop-upload', key, { stream: pattern(10 * MB).stream })
    expect(res.status).toBe(502)
    expect(JSON.parse(res.body)).toMatchObject({ code: 'upstream_failed', status: 502 })
    expect((await svc.call('GET', '/after', { key })).status).toBe(200)
  })

  it("cuts the caller's response when the upstream dies in the middle of its body", async () => {
    const res = await send(svc.port, '/close-mid-body', key)
    // the status was already sent: the caller sees a body shorter than announced
    expect(res.status).toBe(200)
    expect(res.error).toBeDefined()
    expect(res.bytes).toBeLessThan(1000)
    expect((await svc.call('GET', '/after', { key })).status).toBe(200)
  })
})

it('answers 502 problem+json when the upstream refuses connections', async () => {
  const closed = `http://127.0.0.1:${await freePort()}`
  const svc = await startProxy({ upstream: closed })
  try {
    const { key } = await svc.createKey({ name: 'caller' })
    const res = await svc.call('GET', '/anything', { key })
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.body).toMatchObject({ code: 'upstream_failed', status: 502 })
    expect(res.body.detail).not.toContain('127.0.0.1')
  } finally {
    await svc.close()
  }
})
