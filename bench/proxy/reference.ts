// bench/proxy's reference: the same forwarding library as keyward's proxy (@fastify/reply-from
// on an undici Agent, bodies passed through as streams) with no authentication at all, in
// front of BENCH_UPSTREAM. Prints `listening on URL`.
import replyFrom from '@fastify/reply-from'
import Fastify from 'fastify'
import { Agent } from 'undici'
import { printListening } from '../lib.js'

const upstream = process.env.BENCH_UPSTREAM!
const app = Fastify()
await app.register(replyFrom, { undici: new Agent({}), disableRequestLogging: true })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', (_request, payload, done) => done(null, payload))
app.route({
  method: ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'],
  url: '/*',
  handler: (request, reply) => reply.from(upstream + request.url),
})
await app.listen({ port: 0, host: '127.0.0.1' })
printListening(app.server)
process.on('SIGTERM', async () => {
  await app.close()
  process.exit(0)
})
