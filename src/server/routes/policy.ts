// The expiry policy over HTTP: GET /v1/policy and PUT /v1/policy (scope admin).
import type { FastifyPluginAsync } from 'fastify'
import { formatDuration, parseDuration } from '../../core/duration.js'
import type { Keyward } from '../../core/keyward.js'
import type { ExpiryPolicy } from '../../core/types.js'
import type { TrustedProxies } from '../../limits/client-ip.js'
import { adminContext } from '../admin-context.js'
import { problemResponses } from '../schemas.js'
import { expiryPolicySchema, putPolicyBody } from '../schemas-audit.js'

const ADMIN = { keyward: { scopes: ['admin'] } }

function policyJson(policy: ExpiryPolicy) {
  return {
    maxAge: policy.maxAgeMs === null ? null : formatDuration(policy.maxAgeMs),
    owners: Object.fromEntries(
      Object.entries(policy.owners).map(([owner, ms]) => [owner, formatDuration(ms)]),
    ),
  }
}

export const policyRoutes: FastifyPluginAsync<{
  keyward: Keyward
  trustedProxies: TrustedProxies | null
}> = async (app, { keyward, trustedProxies }) => {
  app.get(
    '/v1/policy',
    {
      config: ADMIN,
      schema: {
        summary: 'The expiry policy: the maximum age of a key\'s current secret, global and per owner',
        tags: ['policy'],
        response: { 200: expiryPolicySchema, ...problemResponses },
      },
    },
    async () => policyJson(await keyward.getExpiryPolicy()),
  )

  app.put<{ Body: { maxAge: string | null; owner?: string } }>(
    '/v1/policy',
    {
      config: ADMIN,
      schema: {
        summary:
          'Set (or with maxAge null remove) the maximum key age, global or of one owner; audited as policy.changed. Keys past it are flagged (pastPolicy), not refused',
        tags: ['policy'],
        body: putPolicyBody,
        response: { 200: expiryPolicySchema, ...problemResponses },
      },
    },
    async (request) => {
      const { maxAge, owner } = request.body
      const policy = await keyward.setExpiryPolicy(
        {
          ownerId: owner ?? null,
          maxAgeMs: maxAge === null ? null : parseDuration(maxAge, 'maxAge'),
        },
        adminContext(request, trustedProxies),
      )
      return policyJson(policy)
    },
  )
}
