import type { FastifyPluginAsync } from 'fastify'
import type { Keyward } from '../../core/keyward.js'
import { problem, sendProblem } from '../problems.js'

/** One dependency `/readyz` checks: throws (or rejects) when it is not reachable. */
export interface ReadinessCheck {
  /** `store`, `redis`, …: named in the 503's detail. */
  readonly name: string
  check(): Promise<void>
}

const OPEN = { keyward: false } as const
const READY_TIMEOUT_MS = 2_000

function withTimeout(check: ReadinessCheck): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS)
  })
  return Promise.race([check.check(), timeout]).finally(() => clearTimeout(timer))
}

/** `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer). */
export const healthRoutes: FastifyPluginAsync<{
  keyward: Keyward
  checks: readonly ReadinessCheck[]
}> = async (app, { keyward, checks }) => {
  const all: ReadinessCheck[] = [
    // a one-row read: the store is reachable and its schema is there
    { name: 'store', check: async () => void (await keyward.store.getMeta('pepper_check_v1')) },
    ...checks,
  ]
  app.get(
    '/healthz',
    { config: OPEN, schema: { hide: true } },
    async (_request, reply) => {
      reply.header('cache-control', 'no-store')
      return { status: 'ok' }
    },
  )
  app.get('/readyz', { config: OPEN, schema: { hide: true } }, async (request, reply) => {
    const results = await Promise.allSettled(all.map(withTimeout))
    const failed = all.filter((_, i) => results[i]!.status === 'rejected').map((c) => c.name)
    if (failed.length > 0) {
      request.log.warn({ failed }, 'not ready')
      return sendProblem(
        reply,
        problem(
          'service_unavailable',
          `Not ready: ${failed.join(' and ')} ${failed.length === 1 ? 'is' : 'are'} unreachable. Retry after the number of seconds in the Retry-After header.`,
          { failed },
        ),
      )
    }
    reply.header('cache-control', 'no-store')
    return { status: 'ready', checks: all.map((c) => c.name) }
  })
}
