// The reference point of bench/http: the hand-written Fastify hook a team writes without
// keyward (sha256 of X-API-Key looked up in a Map; no checksum, no scopes, no problem+json),
// with the same routes and handlers as examples/fastify.ts. Measured in the same run, it shows
// how the machine and the load generator treat "the least authentication can cost".
// BENCH_REFERENCE_LIMIT=memory|redis adds @fastify/rate-limit per key id after the hook (in
// memory, or on Redis at KEYWARD_REDIS_URL), the limited reference the issue cites.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import rateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'

const known = new Map<string, string>()
for (const [i, hash] of readFileSync(process.env.BENCH_KEY_HASHES!, 'utf8').split('\n').entries()) {
  if (hash !== '') known.set(hash, `key_${i}`)
}
const keyIdOf = (request: FastifyRequest) => (request as unknown as { keyId: string }).keyId
const limit = process.env.BENCH_REFERENCE_LIMIT
const redis = limit === 'redis' ? new Redis(process.env.KEYWARD_REDIS_URL!) : null
const orders = [{ id: 1, item: 'coffee', quantity: 2, createdBy: 'seed' }]
const app = Fastify()
if (limit === 'memory' || limit === 'redis') {
  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler', // after the key hook: one limit per key id, like keyward's
    keyGenerator: keyIdOf,
    ...(redis === null ? {} : { redis, nameSpace: process.env.BENCH_REFERENCE_NAMESPACE! }),
  })
}
app.get('/health', async () => ({ status: 'ok' }))
app.get(
  '/orders',
  {
    onRequest: (request, reply, done) => {
      const key = request.headers['x-api-key']
      const id =
        typeof key === 'string'
          ? known.get(createHash('sha256').update(key).digest('hex'))
          : undefined
      if (id === undefined) {
        reply.code(401).send({ error: 'invalid API key' })
        return
      }
      ;(request as unknown as { keyId: string }).keyId = id
      done()
    },
    ...(limit === undefined
      ? {}
      : { config: { rateLimit: { max: 1_000_000, timeWindow: 3_600_000 } } }),
  },
  async (request) => ({ orders, keyId: keyIdOf(request) }),
)
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
const address = app.server.address()
console.log(
  `listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
)
process.on('SIGTERM', () => {
  app.close().then(() => {
    redis?.disconnect()
    process.exit(0)
  })
})
