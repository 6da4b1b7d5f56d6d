// The audit trail over HTTP: GET /v1/audit, newest first, filtered, in cursor pages.
import type { FastifyPluginAsync } from 'fastify'
import type { AuditListInput } from '../../core/audit-trail.js'
import { auditEventToJson } from '../../core/key-json.js'
import type { Keyward } from '../../core/keyward.js'
import { isoToMs } from '../key-input.js'
import { problemResponses } from '../schemas.js'
import { auditPageSchema, auditQuery } from '../schemas-audit.js'

interface AuditQueryString {
  keyId?: string
  actor?: string
  type?: string
  since?: string
  until?: string
  limit?: string
  cursor?: string
}

export const auditRoutes: FastifyPluginAsync<{ keyward: Keyward }> = async (app, { keyward }) => {
  app.get<{ Querystring: AuditQueryString }>(
    '/v1/audit',
    {
      config: { keyward: { scopes: ['audit:read'] } },
      schema: {
        summary:
          'Audit events, newest first: admin changes (who, when, from where, what changed) and denials of known keys; filter by key, actor, type and time',
        tags: ['audit'],
        querystring: auditQuery,
        response: { 200: auditPageSchema, ...problemResponses },
      },
    },
    async (request) => {
      const q = request.query
      const input: AuditListInput = {}
      if (q.keyId !== undefined) input.keyId = q.keyId
      if (q.actor !== undefined) input.actor = q.actor
      if (q.type !== undefined) input.type = q.type
      if (q.since !== undefined) input.since = isoToMs(q.since, 'since')
      if (q.until !== undefined) input.until = isoToMs(q.until, 'until')
      if (q.limit !== undefined) input.limit = Number(q.limit)
      if (q.cursor !== undefined) input.cursor = q.cursor
      const page = await keyward.audit.page(input)
      return { items: page.items.map(auditEventToJson), nextCursor: page.nextCursor }
    },
  )
}
