// node:http, no framework: npm run example:node
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { requireApiKey } from 'keyward/node'
import {
  host,
  listenFailed,
  openExampleKeyward,
  orders,
  parseOrder,
  port,
  ready,
} from './shared.js'

const { protection, close } = await openExampleKeyward()
const canRead = requireApiKey({ ...protection, scopes: ['orders:read'] })
const canWrite = requireApiKey({ ...protection, scopes: ['orders:write'] })

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = ''
  for await (const chunk of req) {
    text += chunk
    if (text.length > 10_000) return null
  }
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

const server = createServer(async (req, res) => {
  const path = req.url?.split('?', 1)[0]
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
    json(200, { status: 'ok' })
  } else if (path === '/orders' && (req.method === 'GET' || req.method === 'HEAD')) {
    // the guard answers 401/403/… itself and returns false
    if (await canRead(req, res)) json(200, { orders, keyId: req.apiKey!.id })
  } else if (path === '/orders' && req.method === 'POST') {
    if (!(await canWrite(req, res))) return
    const fields = parseOrder(await readJson(req))
    if (typeof fields === 'string') return json(400, { detail: fields })
    const order = { id: orders.length + 1, ...fields, createdBy: req.apiKey!.id }
    orders.push(order)
    json(201, order)
  } else {
    json(404, { detail: 'No such route: try GET /health, GET /orders or POST /orders.' })
  }
})

server.once('error', (error) => listenFailed(error, close))
server.listen(port, host, () => {
  ready((server.address() as AddressInfo).port, async () => {
    server.close()
    await close()
  })
})
