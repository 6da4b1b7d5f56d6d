// Who made an admin change, for the audit trail: the admin key (or the dashboard session's
// key) and the client's address, read as the failed-auth limiter reads it (X-Forwarded-For
// only from trusted proxies).
import type { FastifyRequest } from 'fastify'
import type { AdminContext } from '../core/audit-events.js'
import { clientIp, type TrustedProxies } from '../limits/client-ip.js'

export function adminContext(
  request: FastifyRequest,
  trusted: TrustedProxies | null,
): AdminContext {
  const ip = clientIp(
    request.socket.remoteAddress,
    request.headers['x-forwarded-for'],
    trusted ?? undefined,
  )
  return { actor: request.apiKey!.id, ...(ip === undefined ? {} : { ip }) }
}
