import type { FastifyPluginAsync } from 'fastify'
import type { TokenSigner } from '../../tokens/signer.js'

/**
 * `GET /.well-known/jwks.json`: the public keys of keyward's JWTs (access tokens and
 * `X-Keyward-Token`), open to anyone: verifiers fetch it without a key. A retired key stays
 * listed until every token it signed has expired (docs/tokens.md).
 */
export const jwksRoutes: FastifyPluginAsync<{ signer: TokenSigner }> = async (app, { signer }) => {
  app.get(
    '/.well-known/jwks.json',
    {
      config: { keyward: false },
      schema: {
        summary: 'Public keys of the tokens this service signs (JWKS, RFC 7517)',
        tags: ['tokens'],
        security: [],
      },
    },
    async (_request, reply) => {
      // short: verifiers refetch on an unknown kid anyway, and a new key is published a
      // minute before it signs
      reply.header('cache-control', 'public, max-age=60')
      return signer.jwks()
    },
  )
}
