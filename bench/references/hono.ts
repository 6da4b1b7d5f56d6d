// Hand-written Hono reference (on @hono/node-server): the middleware a team writes without
// keyward (SHA-256 of X-API-Key looked up in a Map, 401 when absent), on examples/hono.ts's
// routes and handlers. BENCH_REFERENCE_LIMIT=memory adds hono-rate-limiter keyed by the key's
// id after it, as its README configures it (its default memory store).
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono, type MiddlewareHandler } from 'hono'
import { rateLimiter } from 'hono-rate-limiter'
import { knownKeys, LIMIT, limit, listening, orders } from './keys.js'

type Env = { Variables: { keyId: string } }

const requireApiKey: MiddlewareHandler<Env> = async (c, next) => {
  const key = c.req.header('x-api-key')
  const id =
    key === undefined ? undefined : knownKeys.get(createHash('sha256').update(key).digest('hex'))
  if (id === undefined) return c.json({ error: 'invalid API key' }, 401)
  c.set('keyId', id)
  return next()
}

if (limit === 'redis') throw new Error('the Hono reference has no Redis limiter')
const app = new Hono<Env>()
app.use('/orders', requireApiKey)
if (limit === 'memory')
  app.use(
    '/orders',
    rateLimiter<Env>({
      windowMs: LIMIT.windowMs,
      limit: LIMIT.max,
      standardHeaders: 'draft-6',
      keyGenerator: (c) => c.get('keyId'),
    }),
  )
app.get('/health', (c) => c.json({ status: 'ok' }))
app.get('/orders', (c) => c.json({ orders, keyId: c.get('keyId') }))
app.post('/orders', async (c) => {
  const { item, quantity = 1 } = await c.req.json<{ item: string; quantity?: number }>()
  const order = { id: orders.length + 1, item, quantity, createdBy: c.get('keyId') }
  orders.push(order)
  return c.json(order, 201)
})

const server = serve(
  { fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1' },
  (info: AddressInfo) => listening(info.port),
)
process.on('SIGTERM', () => {
  server.close()
  process.exit(0)
})
