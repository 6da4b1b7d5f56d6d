// Express: npm run example:express
import type { AddressInfo } from 'node:net'
import express from 'express'
import { requireApiKey } from 'keyward/express'
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
const app = express()

app.get('/health', (_req, res) => {
  res.json({ status: 'ok' })
})

app.get('/orders', requireApiKey({ ...protection, scopes: ['orders:read'] }), (req, res) => {
  res.json({ orders, keyId: req.apiKey!.id })
})

// authenticate before parsing the body: no work for callers without a key
app.post(
  '/orders',
  requireApiKey({ ...protection, scopes: ['orders:write'] }),
  express.json(),
  (req, res) => {
    const fields = parseOrder(req.body)
    if (typeof fields === 'string') {
      res.status(400).json({ detail: fields })
      return
    }
    const order = { id: orders.length + 1, ...fields, createdBy: req.apiKey!.id }
    orders.push(order)
    res.status(201).json(order)
  },
)

const server = app.listen(port, host, (error) => {
  if (error) return void listenFailed(error, close)
  ready((server.address() as AddressInfo).port, async () => {
    server.close()
    await close()
  })
})
