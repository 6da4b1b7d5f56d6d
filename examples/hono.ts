// Hono on Node: npm run example:hono
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { requireApiKey } from 'keyward/hono'
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
const app = new Hono()

app.get('/health', (c) => c.json({ status: 'ok' }))

app.get('/orders', requireApiKey({ ...protection, scopes: ['orders:read'] }), (c) =>
  c.json({ orders, keyId: c.get('apiKey').id }),
)

app.post('/orders', requireApiKey({ ...protection, scopes: ['orders:write'] }), async (c) => {
  const fields = parseOrder(await c.req.json().catch(() => null))
  if (typeof fields === 'string') return c.json({ detail: fields }, 400)
  const order = { id: orders.length + 1, ...fields, createdBy: c.get('apiKey').id }
  orders.push(order)
  return c.json(order, 201)
})

const server = serve({ fetch: app.fetch, port, hostname: host }, (info: AddressInfo) => {
  ready(info.port, async () => {
    server.close()
    await close()
  })
})
server.once('error', (error) => listenFailed(error, close))
