// Hand-written node:http reference: the check a team writes without keyward (SHA-256 of
// X-API-Key looked up in a Map, 401 when absent), on examples/node.ts's routes and handlers.
// BENCH_REFERENCE_LIMIT=memory|redis adds rate-limiter-flexible keyed by the key's id after the
// check, as its README writes it (RateLimiterMemory, or RateLimiterRedis on KEYWARD_REDIS_URL).
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
} from 'rate-limiter-flexible'
import { knownKeys, LIMIT, limit, listening, orders, redisPrefix, redisUrl } from './keys.js'

const redis = limit === 'redis' ? new Redis(redisUrl!) : null
const limiterOptions = { points: LIMIT.max, duration: LIMIT.windowMs / 1000 }
const limiter: RateLimiterAbstract | null =
  limit === 'memory'
    ? new RateLimiterMemory(limiterOptions)
    : redis !== null
      ? new RateLimiterRedis({ ...limiterOptions, storeClient: redis, keyPrefix: redisPrefix })
      : null

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** The key's id, or undefined after answering 401. */
function authenticate(req: IncomingMessage, res: ServerResponse): string | undefined {
  const key = req.headers['x-api-key']
  const id =
    typeof key === 'string'
      ? knownKeys.get(createHash('sha256').update(key).digest('hex'))
      : undefined
  if (id === undefined) send(res, 401, { error: 'invalid API key' })
  return id
}

/** Whether the key's limit admits the request; answers 429 when it does not. */
async function admit(keyId: string, res: ServerResponse): Promise<boolean> {
  try {
    await limiter!.consume(keyId)
    return true
  } catch {
    send(res, 429, { error: 'Too Many Requests' })
    return false
  }
}

const server = createServer(async (req, res) => {
  const path = req.url?.split('?', 1)[0]
  // the handler of examples/node.ts, as it is written there
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
    json(200, { status: 'ok' })
  } else if (path === '/orders' && (req.method === 'GET' || req.method === 'HEAD')) {
    const keyId = authenticate(req, res)
    if (keyId === undefined || (limiter !== null && !(await admit(keyId, res)))) return
    json(200, { orders, keyId })
  } else if (path === '/orders' && req.method === 'POST') {
    const keyId = authenticate(req, res)
    if (keyId === undefined || (limiter !== null && !(await admit(keyId, res)))) return
    let text = ''
    for await (const chunk of req) text += chunk
    const { item, quantity = 1 } = JSON.parse(text) as { item: string; quantity?: number }
    const order = { id: orders.length + 1, item, quantity, createdBy: keyId }
    orders.push(order)
    json(201, order)
  } else {
    json(404, { detail: 'No such route' })
  }
})
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () =>
  listening((server.address() as AddressInfo).port),
)
process.on('SIGTERM', () => {
  server.close()
  redis?.disconnect()
  process.exit(0)
})
