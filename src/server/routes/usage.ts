// Usage analytics: one key's series (`GET /v1/keys/:id/usage`) and the overview of every key
// (`GET /v1/usage`), ready for charts. Counts come from the store's usage rows; this node's
// counts not yet written are flushed first, so a caller sees its own latest calls.
import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify'
import type { Keyward } from '../../core/keyward.js'
import { parseUsageRange, readKeyUsage, topKeys, usageSeries } from '../../core/usage-report.js'
import { problem, sendProblem } from '../problems.js'
import {
  keyIdParams,
  keyUsageSchema,
  problemResponses,
  usageOverviewQuery,
  usageOverviewSchema,
  usageQuery,
} from '../schemas.js'

const READ = { keyward: { scopes: ['keys:read'] } }

interface UsageQuery {
  since?: string
  step?: string
  top?: string
}

/** Writes this node's pending counts; a store that refuses is logged, the read goes on. */
async function flushed(keyward: Keyward, log: FastifyBaseLogger): Promise<void> {
  try {
    await keyward.verifier.flush()
  } catch (error) {
    log.warn({ err: error }, 'usage: pending counts could not be written before the read')
  }
}

export const usageRoutes: FastifyPluginAsync<{ keyward: Keyward }> = async (app, { keyward }) => {
  const store = keyward.store

  app.get<{ Params: { id: string }; Querystring: UsageQuery }>(
    '/v1/keys/:id/usage',
    {
      config: READ,
      schema: {
        summary: "A key's verifications over time, by outcome, with its routes and client IPs",
        tags: ['usage'],
        params: keyIdParams,
        querystring: usageQuery,
        response: { 200: keyUsageSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const range = parseUsageRange(request.query, Date.now())
      if ((await keyward.getKey(id)) === null)
        return sendProblem(
          reply,
          problem(
            'not_found',
            `No key with id ${JSON.stringify(id)}: list keys with GET /v1/keys.`,
          ),
        )
      await flushed(keyward, request.log)
      return await readKeyUsage(store, id, range)
    },
  )

  app.get<{ Querystring: UsageQuery }>(
    '/v1/usage',
    {
      config: READ,
      schema: {
        summary: 'Verifications of every key over time, with the busiest and most refused keys',
        tags: ['usage'],
        querystring: usageOverviewQuery,
        response: { 200: usageOverviewSchema, ...problemResponses },
      },
    },
    async (request) => {
      const range = parseUsageRange(request.query, Date.now())
      const top = request.query.top === undefined ? 10 : Number(request.query.top)
      await flushed(keyward, request.log)
      const summary = await store.summarizeUsage({
        since: range.since,
        until: range.until,
        stepMs: range.stepMs,
        tagLimit: 1,
      })
      const byTraffic = topKeys(summary.keys, 'total', top)
      const byDenials = topKeys(summary.keys, 'denied', top)
      const names = new Map<string, string>()
      await Promise.all(
        [...new Set([...byTraffic, ...byDenials].map((k) => k.keyId))].map(async (keyId) => {
          names.set(keyId, (await keyward.getKey(keyId))?.name ?? keyId)
        }),
      )
      return {
        since: new Date(range.since).toISOString(),
        until: new Date(range.until - 1).toISOString(),
        step: range.step,
        ...usageSeries(summary),
        topByTraffic: byTraffic.map((k) => ({
          keyId: k.keyId,
          name: names.get(k.keyId)!,
          total: k.total,
        })),
        topByDenials: byDenials.map((k) => ({
          keyId: k.keyId,
          name: names.get(k.keyId)!,
          denied: k.denied,
        })),
      }
    },
  )
}
