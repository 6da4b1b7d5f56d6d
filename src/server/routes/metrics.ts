import type { FastifyPluginAsync } from 'fastify'
import type { ServiceMetrics } from '../metrics.js'

/**
 * `GET /metrics`, the Prometheus exposition. Open like /healthz unless `scope` is set; then the
 * scraper sends a key holding that scope (`Authorization: Bearer <key>`), checked by the
 * service's one authentication path.
 */
export const metricsRoutes: FastifyPluginAsync<{
  metrics: ServiceMetrics
  scope?: string
}> = async (app, { metrics, scope }) => {
  app.get(
    '/metrics',
    {
      config: { keyward: scope === undefined ? false : { scopes: [scope] } },
      schema: { hide: true },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'no-store').type(metrics.contentType)
      return metrics.text()
    },
  )
}
