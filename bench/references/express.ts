// Hand-written Express reference: the middleware a team writes without keyward (SHA-256 of
// X-API-Key looked up in a Map, 401 when absent), on examples/express.ts's routes and handlers.
// BENCH_REFERENCE_LIMIT=memory adds express-rate-limit keyed by the key's id after it, as its
// README configures it (its default memory store).
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import express, { type NextFunction, type Request, type Response } from 'express'
import { rateLimit } from 'express-rate-limit'
import { knownKeys, LIMIT, limit, listening, orders } from './keys.js'

declare global {
  namespace Express {
    interface Request {
      keyId?: string
    }
  }
}

function requireApiKey(req: Request, res: Response, next: NextFunction) {
  const key = req.get('x-api-key')
  const id =
    key === undefined ? undefined : knownKeys.get(createHash('sha256').update(key).digest('hex'))
  if (id === undefined) {
    res.status(401).json({ error: 'invalid API key' })
    return
  }
  req.keyId = id
  next()
}

if (limit === 'redis') throw new Error('the Express reference has no Redis limiter')
const guards =
  limit === 'memory'
    ? [
        requireApiKey,
        rateLimit({
          windowMs: LIMIT.windowMs,
          limit: LIMIT.max,
          standardHeaders: 'draft-8',
          legacyHeaders: false,
          keyGenerator: (req) => req.keyId!,
        }),
      ]
    : [requireApiKey]

const app = express()
app.get('/health', (_req, res) => {
  res.json({ status: 'ok' })
})
app.get('/orders', ...guards, (req, res) => {
  res.json({ orders, keyId: req.keyId })
})
app.post('/orders', ...guards, express.json(), (req, res) => {
  const { item, quantity = 1 } = req.body as { item: string; quantity?: number }
  const order = { id: orders.length + 1, item, quantity, createdBy: req.keyId! }
  orders.push(order)
  res.status(201).json(order)
})

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () =>
  listening((server.address() as AddressInfo).port),
)
process.on('SIGTERM', () => {
  server.close()
  process.exit(0)
})
