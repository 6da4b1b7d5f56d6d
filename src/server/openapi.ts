// The API described: /openapi.json generated from the route schemas (@fastify/swagger), and a
// browsable reference at /docs (@fastify/swagger-ui, served from the package: no CDN).
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

const OPEN = { keyward: false } as const

/** Paths of the documentation itself, readable without a key. */
export function isDocsPath(url: string): boolean {
  return url === '/docs' || url.startsWith('/docs/') || url === '/openapi.json'
}

/** Registers the generator; call before any route is added, so that every route is seen. */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'keyward',
        version,
        description:
          'API keys for server-to-server HTTP: manage keys (admin API) and verify them from any language (verify API). Authenticate with an admin key in the X-API-Key header.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
  })
  // the docs' own routes (added by swagger-ui) are open: they hold no data
  app.addHook('onRoute', (route) => {
    if (isDocsPath(route.url)) route.config = { ...(route.config ?? {}), ...OPEN }
  })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiConfig: { url: '/openapi.json', validatorUrl: null } as Record<string, unknown>,
  })
  app.get(
    '/openapi.json',
    { config: OPEN, schema: { hide: true } },
    async (_request, reply) => {
      reply.header('cache-control', 'no-cache')
      return app.swagger()
    },
  )
}
