// The dashboard's session endpoints: sign in with an admin key (in the Authorization header,
// verified by the adapter like any admin call), read the session, sign out.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { problem, sendProblem } from '../problems.js'
import { problemResponses } from '../schemas.js'
import { sessionCookie } from '../session-auth.js'
import type { DashboardSession, SessionStore } from '../sessions.js'

export interface SessionRoutesOptions {
  sessions: SessionStore
  cookieName: string
  secureCookies: boolean
}

const sessionSchema = {
  type: 'object',
  properties: {
    keyId: { type: 'string' },
    name: { type: 'string' },
    hint: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    expiresAt: {
      type: 'string',
      format: 'date-time',
      description: 'The session ends then at the latest',
    },
    idleTimeoutSeconds: { type: 'integer', description: 'It also ends after this long unused' },
    csrfToken: {
      type: 'string',
      description: 'Send it in X-Keyward-CSRF on every call that changes something',
    },
  },
}

// the dashboard reads keys: a key that cannot has nothing to see there
const READ = { keyward: { scopes: ['keys:read'] } }

export const sessionRoutes: FastifyPluginAsync<SessionRoutesOptions> = async (app, options) => {
  const { sessions, cookieName, secureCookies } = options
  const idleSeconds = (session: DashboardSession) =>
    Math.round((sessions.endsAt(session) - session.lastSeenAt) / 1000)

  function describe(request: FastifyRequest, session: DashboardSession) {
    const key = request.apiKey!
    return {
      keyId: key.id,
      name: key.name,
      hint: key.hint,
      scopes: key.scopes,
      expiresAt: new Date(session.expiresAt).toISOString(),
      idleTimeoutSeconds: idleSeconds(session),
      csrfToken: session.csrfToken,
    }
  }

  function noStore(reply: FastifyReply): void {
    reply.header('cache-control', 'no-store')
  }

  app.post(
    '/dashboard/api/session',
    {
      config: READ,
      schema: {
        summary:
          'Sign in to the dashboard: send the admin key in Authorization: Bearer; answers with a session cookie',
        tags: ['dashboard'],
        response: { 201: sessionSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      if (request.dashboardSession !== null)
        return sendProblem(
          reply,
          problem(
            'invalid_request',
            'Sign in with an admin key in the Authorization header: a session cannot start another one.',
          ),
        )
      const key = request.apiKey!
      const { token, session } = sessions.create(key.id, key.hint)
      noStore(reply)
      reply.header(
        'set-cookie',
        sessionCookie(cookieName, token, sessions.cookieMaxAgeSeconds, secureCookies),
      )
      reply.code(201)
      return describe(request, session)
    },
  )

  app.get(
    '/dashboard/api/session',
    {
      config: READ,
      schema: {
        summary: "The dashboard session of the request's cookie",
        tags: ['dashboard'],
        response: { 200: sessionSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const session = request.dashboardSession
      if (session === null)
        return sendProblem(
          reply,
          problem(
            'not_found',
            'This request carries no dashboard session: sign in with POST /dashboard/api/session.',
          ),
        )
      noStore(reply)
      return describe(request, session)
    },
  )

  app.delete(
    '/dashboard/api/session',
    {
      config: READ,
      schema: {
        summary: 'Sign out: ends the session of the cookie',
        tags: ['dashboard'],
        response: { ...problemResponses },
      },
    },
    async (request, reply) => {
      const session = request.dashboardSession
      if (session !== null) sessions.end(session)
      noStore(reply)
      reply.header('set-cookie', sessionCookie(cookieName, null, 0, secureCookies))
      return reply.code(204).send()
    },
  )
}
