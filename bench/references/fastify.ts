// Hand-written Fastify reference: the `onRequest` hook a team writes without keyward, the way
// Fastify's documentation writes route hooks (SHA-256 of X-API-Key looked up in a Map, 401 when
// absent; no checksum, no scopes, no problem+json), on examples/fastify.ts's routes and handlers.
// BENCH_REFERENCE_LIMIT=memory|redis adds @fastify/rate-limit keyed by the key's id after the
// hook, in memory or on Redis at KEYWARD_REDIS_URL.
import { createHash } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import Fastify, {
  type FastifyReply,
  type FastifyRequest,
  type HookHandlerDoneFunction,
} from 'fastify'
import { Redis } from 'ioredis'
import { knownKeys, LIMIT, limit, listening, orders, redisPrefix, redisUrl } from './keys.js'

declare module 'fastify' {
  interface FastifyRequest {
    keyId: string
  }
}

const redis = limit === 'redis' ? new Redis(redisUrl!) : null
const app = Fastify()
app.decorateRequest('keyId', '')

// callback style, as Fastify's Hooks documentation shows first: no promise per request
function checkApiKey(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
  const key = request.headers['x-api-key']
  const id =
    typeof key === 'string'
      ? knownKeys.get(createHash('sha256').update(key).digest('hex'))
      : undefined
  if (id === undefined) {
    reply.code(401).send({ error: 'invalid API key' })
    return
  }
  request.keyId = id
  done()
}

if (limit !== undefined) {
  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler', // after the key check: one limit per key id
    keyGenerator: (request) => request.keyId,
    ...(redis === null ? {} : { redis, nameSpace: redisPrefix }),
  })
}
const rateLimited =
  limit === undefined
    ? {}
    : { config: { rateLimit: { max: LIMIT.max, timeWindow: LIMIT.windowMs } } }

app.get('/health', async () => ({ status: 'ok' }))
app.get('/orders', { onRequest: checkApiKey, ...rateLimited }, async (request) => ({
  orders,
  keyId: request.keyId,
}))
app.post('/orders', { onRequest: checkApiKey, ...rateLimited }, async (request, reply) => {
  const { item, quantity = 1 } = request.body as { item: string; quantity?: number }
  const order = { id: orders.length + 1, item, quantity, createdBy: request.keyId }
  orders.push(order)
  return reply.code(201).send(order)
})

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
listening((app.server.address() as { port: number }).port)
process.on('SIGTERM', () => {
  app.close().then(() => {
    redis?.disconnect()
    process.exit(0)
  })
})
