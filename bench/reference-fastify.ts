// The reference point of bench/http: the hand-written Fastify hook a team writes without
// keyward (sha256 of X-API-Key looked up in a Map; no checksum, no scopes, no problem+json),
// with the same routes and handlers as examples/fastify.ts. Measured in the same run, it shows
// how the machine and the load generator treat "the least authentication can cost".
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const known = new Map<string, string>()
for (const [i, hash] of readFileSync(process.env.BENCH_KEY_HASHES!, 'utf8').split('\n').entries()) {
  if (hash !== '') known.set(hash, `key_${i}`)
}
const orders = [{ id: 1, item: 'coffee', quantity: 2, createdBy: 'seed' }]
const app = Fastify()
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
  },
  async (request) => ({ orders, keyId: (request as unknown as { keyId: string }).keyId }),
)
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
const address = app.server.address()
console.log(
  `listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
)
process.on('SIGTERM', () => {
  app.close().then(() => process.exit(0))
})
