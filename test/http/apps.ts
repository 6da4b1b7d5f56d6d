// One small app per adapter, with the same routes, for the shared HTTP tests.
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerOptions,
} from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { serve } from '@hono/node-server'
import express, { type Request } from 'express'
import Fastify, { type FastifyRequest } from 'fastify'
import { type Context, Hono } from 'hono'
import { requireApiKey as expressApiKey } from '../../src/http/express/index.js'
import { keywardFastify } from '../../src/http/fastify/index.js'
import { requireApiKey as honoApiKey } from '../../src/http/hono/index.js'
import { requireApiKey as nodeApiKey } from '../../src/http/node/index.js'
import type { ApiKeyOptions } from '../../src/http/options.js'

export const ADAPTERS = ['node', 'express', 'fastify', 'hono'] as const
export type AdapterName = (typeof ADAPTERS)[number]

/** Options shared by every route of an app; per-route scopes are added by the app. */
export type AppOptions = Omit<ApiKeyOptions<unknown>, 'scopes'>

export interface RunningApp {
  port: number
  /** The listening Node server (to change e.g. its `maxHeadersCount`). */
  server: Server
  close(): Promise<void>
}

const READ = ['orders:read']
const WRITE = ['orders:write']

function keyBody(id: string | undefined): string {
  return JSON.stringify({ ok: true, keyId: id ?? null })
}

async function listenNode(server: Server): Promise<RunningApp> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return running(server)
}

/** A listening server as a `RunningApp`: its port, and a close that drops kept-alive sockets. */
function running(server: Server): RunningApp {
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Options of the listening Node server (e.g. `maxHeaderSize` for oversized tokens). */
export type AppServerOptions = Pick<ServerOptions, 'maxHeaderSize'>

function nodeApp(options: AppOptions, serverOptions: AppServerOptions): Promise<RunningApp> {
  const o = options as ApiKeyOptions<IncomingMessage>
  const read = nodeApiKey({ ...o, scopes: READ })
  const write = nodeApiKey({ ...o, scopes: WRITE })
  const server = createServer(serverOptions, async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/health') {
      res.end('ok')
      return
    }
    if (path !== '/orders') {
      res.statusCode = 404
      res.end()
      return
    }
    const guard = req.method === 'POST' ? write : read
    try {
      if (!(await guard(req, res))) return
    } catch {
      res.statusCode = 500
      res.end()
      return
    }
    if (req.method === 'OPTIONS') {
      res.statusCode = 204
      res.end()
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end(keyBody(req.apiKey?.id))
  })
  return listenNode(server)
}

function expressApp(options: AppOptions, serverOptions: AppServerOptions): Promise<RunningApp> {
  const o = options as ApiKeyOptions<Request>
  const app = express()
  const read = expressApiKey({ ...o, scopes: READ })
  app.get('/health', (_req, res) => {
    res.send('ok')
  })
  app.get('/orders', read, (req, res) => {
    res.type('application/json').send(keyBody(req.apiKey?.id))
  })
  app.post('/orders', expressApiKey({ ...o, scopes: WRITE }), (req, res) => {
    res.type('application/json').send(keyBody(req.apiKey?.id))
  })
  app.options('/orders', read, (_req, res) => {
    res.sendStatus(204)
  })
  return listenNode(createServer(serverOptions, app))
}

async function fastifyApp(
  options: AppOptions,
  serverOptions: AppServerOptions,
): Promise<RunningApp> {
  const app = Fastify({ http: serverOptions })
  await app.register(keywardFastify, options as ApiKeyOptions<FastifyRequest>)
  app.get('/health', { config: { keyward: false } }, async () => 'ok')
  const reply = async (request: FastifyRequest) => ({ ok: true, keyId: request.apiKey?.id ?? null })
  app.get('/orders', { config: { keyward: { scopes: READ } } }, reply)
  app.post('/orders', { config: { keyward: { scopes: WRITE } } }, reply)
  app.options('/orders', { config: { keyward: { scopes: READ } } }, async (_req, res) =>
    res.code(204).send(),
  )
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    port: (app.server.address() as AddressInfo).port,
    server: app.server,
    close: () => app.close(),
  }
}

async function honoApp(options: AppOptions, serverOptions: AppServerOptions): Promise<RunningApp> {
  const o = options as ApiKeyOptions<Context>
  const app = new Hono()
  const read = honoApiKey({ ...o, scopes: READ })
  app.get('/health', (c) => c.text('ok'))
  app.get('/orders', read, (c) => c.json({ ok: true, keyId: c.get('apiKey').id }))
  app.post('/orders', honoApiKey({ ...o, scopes: WRITE }), (c) =>
    c.json({ ok: true, keyId: c.get('apiKey').id }),
  )
  app.options('/orders', read, (c) => c.body(null, 204))
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', serverOptions }, () =>
      resolve(s as Server),
    ) as Server
  })
  return running(server)
}

/** Starts the app of one adapter on a free port. */
export function startApp(
  adapter: AdapterName,
  options: AppOptions,
  serverOptions: AppServerOptions = {},
): Promise<RunningApp> {
  switch (adapter) {
    case 'node':
      return nodeApp(options, serverOptions)
    case 'express':
      return expressApp(options, serverOptions)
    case 'fastify':
      return fastifyApp(options, serverOptions)
    case 'hono':
      return honoApp(options, serverOptions)
  }
}

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** Repeated names become arrays, which Node sends as separate header lines. */
function headerObject(lines: readonly [string, string][]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of lines) {
    const previous = out[name]
    out[name] = previous === undefined ? value : [previous, value].flat()
  }
  return out
}

/**
 * A request over a real socket with headers exactly as given, repeated lines included
 * (fetch would merge them).
 */
export function rawRequest(
  port: number,
  request: {
    method?: string
    path?: string
    headers?: readonly [string, string][]
    /** Sent as is; set a Content-Type header to match. */
    body?: string
  },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: request.method ?? 'GET',
        path: request.path ?? '/orders',
        headers: headerObject(request.headers ?? []),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(request.body)
  })
}

/** Decodes a `Transfer-Encoding: chunked` body. */
function unchunk(body: string): string {
  let out = ''
  let at = 0
  for (;;) {
    const eol = body.indexOf('\r\n', at)
    const size = Number.parseInt(body.slice(at, eol), 16)
    if (eol < 0 || !(size > 0)) return out
    out += body.slice(eol + 2, eol + 2 + size)
    at = eol + 2 + size + 2
  }
}

/**
 * A request written byte for byte: `lines` are sent in order after the request line, and
 * nothing is added (not even `Host`), so the server sees exactly that many header lines.
 * Same-named lines stay apart, which no HTTP client allows. The connection is closed after it.
 */
export function rawLines(
  port: number,
  lines: readonly string[],
  target = 'GET /orders HTTP/1.1',
): Promise<RawResponse> {
  return rawSend(port, `${target}\r\n${lines.join('\r\n')}\r\n\r\n`)
}

/** Sends `bytes` as they are on a new connection and parses the answer once it closes. */
export function rawSend(port: number, bytes: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end(bytes)
    })
    const chunks: Buffer[] = []
    let failed: Error | undefined
    socket.on('data', (c: Buffer) => chunks.push(c))
    // a server that answers before reading the whole request (413) may reset the connection
    // while it is still being written: the answer already received counts
    socket.on('error', (e) => {
      failed = e
    })
    socket.on('close', () => {
      if (chunks.length === 0 && failed !== undefined) {
        reject(failed)
        return
      }
      const text = Buffer.concat(chunks).toString('utf8')
      const split = text.indexOf('\r\n\r\n')
      const head = (split < 0 ? text : text.slice(0, split)).split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      const raw = split < 0 ? '' : text.slice(split + 4)
      const body = headers['transfer-encoding'] === 'chunked' ? unchunk(raw) : raw
      resolve({ status: Number(head[0]?.split(' ')[1] ?? 0), headers, body })
    })
  })
}
