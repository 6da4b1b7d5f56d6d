// Fastify: npm run example:fastify
import Fastify from 'fastify'
import { keywardFastify } from 'keyward/fastify'
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
const app = Fastify()

// every route of this app needs a key (or a token), unless its config says `keyward: false`
await app.register(keywardFastify, protection)

app.get('/health', { config: { keyward: false } }, async () => ({ status: 'ok' }))

app.get('/orders', { config: { keyward: { scopes: ['orders:read'] } } }, async (request) => ({
  orders,
  keyId: request.apiKey!.id,
}))

app.post(
  '/orders',
  { config: { keyward: { scopes: ['orders:write'] } } },
  async (request, reply) => {
    const fields = parseOrder(request.body)
    if (typeof fields === 'string') return reply.code(400).send({ detail: fields })
    const order = { id: orders.length + 1, ...fields, createdBy: request.apiKey!.id }
    orders.push(order)
    return reply.code(201).send(order)
  },
)

await app.listen({ port, host }).catch((error: unknown) => listenFailed(error, close))
const address = app.server.address()
ready(typeof address === 'object' && address !== null ? address.port : port, async () => {
  await app.close()
  await close()
})
