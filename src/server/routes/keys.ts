// The admin API for keys: create, list, read, change, rotate (and finish a rotation), revoke.
import type { FastifyPluginAsync } from 'fastify'
import { parseDuration } from '../../core/duration.js'
import { keyToJson, policyToJson, secretToJson } from '../../core/key-json.js'
import type { Keyward } from '../../core/keyward.js'
import { maxAgeOf } from '../../core/policy.js'
import type { ExpiryPolicy, KeyRecord } from '../../core/types.js'
import type { TrustedProxies } from '../../limits/client-ip.js'
import { adminContext } from '../admin-context.js'
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

function notFound(id: string) {
  return problem('not_found', `No key with id ${JSON.stringify(id)}: list keys with GET /v1/keys.`)
}

export const keyRoutes: FastifyPluginAsync<{
  keyward: Keyward
  trustedProxies: TrustedProxies | null
}> = async (app, { keyward, trustedProxies }) => {
  const admin = keyward.admin
  const show = (record: KeyRecord, policy: ExpiryPolicy) => {
    const pastPolicy = admin.isPastPolicy(record, policy)
    return {
      ...keyToJson(record, admin.statusOf(record)),
      pastPolicy,
      policy: policyToJson(maxAgeOf(record, policy), pastPolicy),
    }
  }
  /** One key with its secrets, as GET /v1/keys/:id shows it. */
  const detail = async (record: KeyRecord) => {
    const [policy, secrets] = await Promise.all([
      admin.getExpiryPolicy(),
      keyward.store.listSecrets(record.id),
    ])
    const now = Date.now()
    return { ...show(record, policy), secrets: secrets.map((s) => secretToJson(s, now)) }
  }
  const showOne = async (record: KeyRecord) => show(record, await admin.getExpiryPolicy())

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
      const ctx = adminContext(request, trustedProxies)
      const input = createInput(request.body, ctx.actor!, Date.now())
      const { key, record } = await admin.createKey({ ...input, ...ctx })
      reply.code(201).header('cache-control', 'no-store')
      return { key, ...(await showOne(record)) }
    },
  )

  app.get<{ Querystring: ListQuery }>(
    '/v1/keys',
    {
      config: READ,
      schema: {
        summary:
          'List keys, newest first, in pages; filter by owner, status, prefix, scope, expiry. Keys past the expiry policy have pastPolicy: true',
        tags: ['keys'],
        querystring: listKeysQuery,
        response: { 200: keyPageSchema, ...problemResponses },
      },
    },
    async (request) => {
      const [page, policy] = await Promise.all([
        admin.listKeys(listInput(request.query)),
        admin.getExpiryPolicy(),
      ])
      return { items: page.items.map((r) => show(r, policy)), nextCursor: page.nextCursor }
    },
  )

  app.get<{ Params: { id: string } }>(
    '/v1/keys/:id',
    {
      config: READ,
      schema: {
        summary:
          'One key, with its secrets: the current one and those in a grace period (until when, last used)',
        tags: ['keys'],
        params: keyIdParams,
        response: { 200: keySchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const record = await admin.getKey(request.params.id)
      if (record === null) return sendProblem(reply, notFound(request.params.id))
      return detail(record)
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
      const ctx = adminContext(request, trustedProxies)
      const input = updateInput(request.body, ctx.actor!, Date.now())
      return showOne(await admin.updateKey(request.params.id, { ...input, ...ctx }))
    },
  )

  app.post<{ Params: { id: string }; Body: { gracePeriod?: string; expectHint?: string } | null }>(
    '/v1/keys/:id/rotate',
    {
      config: WRITE,
      schema: {
        summary:
          'Issue a new secret; the old one works until the grace period ends (default 24h). 409 when another rotation of the key came first',
        tags: ['keys'],
        params: keyIdParams,
        body: rotateKeyBody,
        response: { 200: keyWithSecretSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const grace = request.body?.gracePeriod
      const graceMs = grace === undefined ? undefined : parseGrace(grace)
      const expectHint = request.body?.expectHint
      const { key, record } = await admin.rotateKey(request.params.id, {
        ...(graceMs !== undefined ? { graceMs } : {}),
        ...(expectHint !== undefined ? { expectHint } : {}),
        ...adminContext(request, trustedProxies),
      })
      reply.header('cache-control', 'no-store')
      return { key, ...(await showOne(record)) }
    },
  )

  app.post<{ Params: { id: string } }>(
    '/v1/keys/:id/rotate/finish',
    {
      config: WRITE,
      schema: {
        summary:
          "End the grace period of the key's old secrets now (once every caller uses the new one); answers the key with its secrets",
        tags: ['keys'],
        params: keyIdParams,
        response: {
          200: {
            ...keySchema,
            properties: {
              ...keySchema.properties,
              endedSecrets: {
                type: 'integer',
                description: 'Old secrets that stopped working now (0: none was left)',
              },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { record, ended } = await admin.finishRotation(
        request.params.id,
        adminContext(request, trustedProxies),
      )
      return { ...(await detail(record)), endedSecrets: ended }
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
    async (request) =>
      showOne(await admin.revokeKey(request.params.id, adminContext(request, trustedProxies))),
  )
}

/** `0s`..: a grace period of 0 ends the old secret at once. */
function parseGrace(text: string): number {
  return /^0(ms|s|m|h|d|w|y)?$/.test(text.trim()) ? 0 : parseDuration(text, 'gracePeriod')
}
