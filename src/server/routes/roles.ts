// The admin API for roles: named sets of scopes that keys hold through their `roles`.
import type { FastifyPluginAsync } from 'fastify'
import type { Keyward } from '../../core/keyward.js'
import type { TrustedProxies } from '../../limits/client-ip.js'
import { adminContext } from '../admin-context.js'
import { problem, sendProblem } from '../problems.js'
import { problemResponses, putRoleBody, roleListSchema, roleNameParams, roleSchema } from '../schemas.js'

const READ = { keyward: { scopes: ['keys:read'] } }
const WRITE = { keyward: { scopes: ['roles:write'] } }

function notFound(name: string) {
  return problem(
    'not_found',
    `No role named ${JSON.stringify(name)}: list roles with GET /v1/roles, or define it with PUT /v1/roles/${encodeURIComponent(name)}.`,
  )
}

export const roleRoutes: FastifyPluginAsync<{
  keyward: Keyward
  trustedProxies: TrustedProxies | null
}> = async (app, { keyward, trustedProxies }) => {
  const admin = keyward.admin

  app.get(
    '/v1/roles',
    {
      config: READ,
      schema: {
        summary: 'List roles by name',
        tags: ['roles'],
        response: { 200: roleListSchema, ...problemResponses },
      },
    },
    async () => {
      const roles = await admin.listRoles()
      const items = [...roles]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, scopes]) => ({ name, scopes }))
      return { items }
    },
  )

  app.get<{ Params: { name: string } }>(
    '/v1/roles/:name',
    {
      config: READ,
      schema: {
        summary: 'One role',
        tags: ['roles'],
        params: roleNameParams,
        response: { 200: roleSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      const scopes = (await admin.listRoles()).get(name)
      if (scopes === undefined) return sendProblem(reply, notFound(name))
      return { name, scopes }
    },
  )

  app.put<{ Params: { name: string }; Body: { scopes: string[] } }>(
    '/v1/roles/:name',
    {
      config: WRITE,
      schema: {
        summary:
          'Define a role or replace its scopes (201 when new, 200 when replaced); keys holding it get the new scopes at once',
        tags: ['roles'],
        params: roleNameParams,
        body: putRoleBody,
        response: { 200: roleSchema, 201: roleSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      const existed = (await admin.listRoles()).has(name)
      const scopes = await admin.setRole(
        name,
        request.body.scopes,
        adminContext(request, trustedProxies),
      )
      reply.code(existed ? 200 : 201)
      return { name, scopes }
    },
  )

  app.delete<{ Params: { name: string } }>(
    '/v1/roles/:name',
    {
      config: WRITE,
      schema: {
        summary: 'Delete a role; keys that hold it keep the name but lose its scopes at once',
        tags: ['roles'],
        params: roleNameParams,
        response: { 204: { type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { name } = request.params
      const deleted = await admin.deleteRole(name, adminContext(request, trustedProxies))
      if (!deleted) return sendProblem(reply, notFound(name))
      return reply.code(204).send()
    },
  )
}
