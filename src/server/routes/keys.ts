// The admin API for keys: create, list, read, change, rotate, revoke.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { parseDuration } from '../../core/duration.js'
import { keyToJson } from '../../core/key-json.js'
import type { Keyward } from '../../core/keyward.js'
import type { KeyRecord } from '../../core/types.js'
import { type ApiKeyFields, createInput, type ListQuery, listInput, updateInput } from '../key-input.js'
import { problem, sendProblem } from '../problems.js'
import {
  createKeyBody,
  keyIdParams,
  keyPageSchema,
  keySchema,
  keyWithSecretSchema,
  listKeysQuery,
  problemResponses,
  rotateKeyBody,
  updateKeyBody,
} from '../schemas.js'

const READ = { keyward: { scopes: ['keys:read'] } }
const WRITE = { keyward: { scopes: ['keys:write'] } }

/** The admin key of the request, as the actor of audit events. */
function actor(request: FastifyRequest): string {
  return request.apiKey!.id
}

function notFound(id: string) {
  return problem('not_found', `No key with id ${JSON.stringify(id)}: list keys with GET /v1/keys.`)
}

export const keyRoutes: FastifyPluginAsync<{ keyward: Keyward }> = async (app, { keyward }) => {
  const admin = keyward.admin
  const show = (record: KeyRecord) => keyToJson(record, admin.statusOf(record))

  app.post<{ Body: ApiKeyFields }>(
    '/v1/keys',
    {
      config: WRITE,
      schema: {
        summary: 'Create a key; the answer holds its secret, shown this once',
        tags: ['keys'],
        body: createKeyBody,
        response: { 201: keyWithSecretSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const input = createInput(request.body, actor(request), Date.now())
      const { key, record } = await admin.createKey(input)
      reply.code(201).header('cache-control', 'no-store')
      return { key, ...show(record) }
    },
  )

  app.get<{ Querystring: ListQuery }>(
    '/v1/keys',
    {
      config: READ,
      schema: {
        summary: 'List keys, newest first, in pages; filter by owner, status, prefix, scope, expiry',
        tags: ['keys'],
        querystring: listKeysQuery,
        response: { 200: keyPageSchema, ...problemResponses },
      },
    },
    async (request) => {
      const page = await admin.listKeys(listInput(request.query))
      return { items: page.items.map(show), nextCursor: page.nextCursor }
    },
  )

  app.get<{ Params: { id: string } }>(
    '/v1/keys/:id',
    {
      config: READ,
      schema: {
        summary: 'One key',
        tags: ['keys'],
        params: keyIdParams,
        response: { 200: keySchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const record = await admin.getKey(request.params.id)
      if (record === null) return sendProblem(reply, notFound(request.params.id))
      return show(record)
    },
  )

  app.patch<{ Params: { id: string }; Body: ApiKeyFields }>(
    '/v1/keys/:id',
    {
      config: WRITE,
      schema: {
        summary: 'Change a key: name, owner, scopes, roles, limits, quota, metadata, expiry, IP allowlist, enabled',
        tags: ['keys'],
        params: keyIdParams,
        body: updateKeyBody,
        response: { 200: keySchema, ...problemResponses },
      },
    },
    async (request) => {
      const input = updateInput(request.body, actor(request), Date.now())
      return show(await admin.updateKey(request.params.id, input))
    },
  )

  app.post<{ Params: { id: string }; Body: { gracePeriod?: string } | null }>(
    '/v1/keys/:id/rotate',
    {
      config: WRITE,
      schema: {
        summary: 'Issue a new secret; the old one works until the grace period ends (default 24h)',
        tags: ['keys'],
        params: keyIdParams,
        body: rotateKeyBody,
        response: { 200: keyWithSecretSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const grace = request.body?.gracePeriod
      const graceMs = grace === undefined ? undefined : parseGrace(grace)
      const { key, record } = await admin.rotateKey(request.params.id, {
        ...(graceMs !== undefined ? { graceMs } : {}),
        actor: actor(request),
      })
      reply.header('cache-control', 'no-store')
      return { key, ...show(record) }
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/v1/keys/:id',
    {
      config: WRITE,
      schema: {
        summary: 'Revoke a key (the record stays, for the audit trail)',
        tags: ['keys'],
        params: keyIdParams,
        response: { 200: keySchema, ...problemResponses },
      },
    },
    async (request) => show(await admin.revokeKey(request.params.id, { actor: actor(request) })),
  )
}

/** `0s`..: a grace period of 0 ends the old secret at once. */
function parseGrace(text: string): number {
  return /^0(ms|s|m|h|d|w|y)?$/.test(text.trim()) ? 0 : parseDuration(text, 'gracePeriod')
}
