// The verify API: services written in any language ask "is this key valid, and may it do
// this?" and get the library's answer, limits and quota applied exactly as the middleware does.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { KeywardError } from '../../core/errors.js'
import { isoTime } from '../../core/key-json.js'
import type { Keyward, VerifyOptions, VerifyResult } from '../../core/keyward.js'
import { normalizeIp } from '../../core/ip-address.js'
import { assertValidScope } from '../../core/scopes.js'
import type { LimitDecision } from '../../core/types.js'
import { bad } from '../../core/validate.js'
import { problemFor, sendProblem } from '../problems.js'
import { problemResponses, verifyAnswerSchema, verifyBody } from '../schemas.js'

/** The body of `POST /v1/keys/verify` after schema validation. */
export interface VerifyBody {
  key: string
  scopes?: string[]
  cost?: number
  idempotencyKey?: string
  operation?: string
  ip?: string
  tag?: string
}

/** The key's most constraining limit: `limit`, `remaining` and `resetMs` of one policy. */
export interface RateLimitAnswer {
  limit: number
  remaining: number
  resetMs: number
}

/** What `POST /v1/keys/verify` answers (200) for a valid and a refused key alike. */
export interface VerifyAnswer {
  valid: boolean
  /** `valid`, or the denial code. */
  code: string
  keyId: string | null
  owner: string | null
  name: string | null
  scopes: readonly string[] | null
  metadata: Readonly<Record<string, unknown>> | null
  expiresAt: string | null
  ratelimit: RateLimitAnswer | null
  missingScopes?: readonly string[]
  retryAfter?: number
  /** Set for an old secret in its grace period: when it was superseded (ISO). */
  deprecation?: string
  /** With `deprecation`: when the old secret stops working (ISO). */
  sunset?: string
}

const VERIFY = { keyward: { scopes: ['keys:verify'] } }
const NO_OPTIONS: VerifyOptions = Object.freeze({})
const STORE_DOWN = new KeywardError('store_unavailable', 'the verify API could not reach the store')

/**
 * The policy with the fewest units left (on a tie, the one that takes longest to reset): the
 * one a caller runs into first. Null without limits.
 */
export function mostConstraining(decision: LimitDecision | undefined): RateLimitAnswer | null {
  if (decision === undefined) return null
  let best: LimitDecision['policies'][number] | undefined
  for (const p of decision.policies) {
    if (
      best === undefined ||
      p.remaining < best.remaining ||
      (p.remaining === best.remaining && p.resetMs > best.resetMs)
    )
      best = p
  }
  return best === undefined
    ? null
    : { limit: best.limit, remaining: best.remaining, resetMs: best.resetMs }
}

/**
 * The body as `keyward.verify` options, the ones the middleware builds from a request. Shapes
 * and types were checked by the schema; values are checked here, naming the field.
 *
 * @throws KeywardError `invalid_argument`
 */
export function verifyOptions(body: VerifyBody): VerifyOptions {
  const { scopes, cost, idempotencyKey, operation, ip, tag } = body
  if (
    scopes === undefined &&
    cost === undefined &&
    idempotencyKey === undefined &&
    ip === undefined &&
    tag === undefined
  )
    return NO_OPTIONS
  const options: VerifyOptions = {}
  if (scopes !== undefined) {
    for (const s of scopes) assertValidScope(s)
    options.scopes = scopes
  }
  if (cost !== undefined) options.cost = cost
  if (idempotencyKey !== undefined) {
    if (operation === undefined)
      throw bad(
        'idempotencyKey needs operation: send what the request does along with it, e.g. "operation": "POST /orders", so that the key cannot be reused for another request',
      )
    options.idempotencyKey = idempotencyKey
    options.operation = operation
  }
  if (ip !== undefined) {
    if (normalizeIp(ip) === undefined)
      throw bad(
        `ip ${JSON.stringify(ip)} is not an IP address: send the client's IPv4 or IPv6 address, e.g. "203.0.113.7"`,
      )
    options.ip = ip
  }
  // the schema allows no "?": a tag is a name or a route pattern, never a URL with its query
  if (tag !== undefined) options.usageTag = tag
  return options
}

function answer(result: VerifyResult, request: FastifyRequest, reply: FastifyReply) {
  // an answer about a credential and its remaining allowance is never cached by anyone
  reply.header('cache-control', 'no-store')
  if (result.ok) {
    const key = result.key
    const out: VerifyAnswer = {
      valid: true,
      code: 'valid',
      keyId: key.id,
      owner: key.ownerId,
      name: key.name,
      scopes: key.scopes,
      metadata: key.metadata,
      expiresAt: isoTime(key.expiresAt),
      ratelimit: mostConstraining(result.rateLimit),
    }
    const deprecation = result.deprecation
    if (deprecation !== undefined) {
      out.deprecation = new Date(deprecation.deprecatedAt).toISOString()
      out.sunset = new Date(deprecation.sunsetAt).toISOString()
    }
    return out
  }
  // never a 200 "invalid": the caller would throw a good key away
  if (result.code === 'store_unavailable') {
    request.log.warn({ err: result.cause }, 'verify: the key store or limiter is unreachable')
    return sendProblem(reply, problemFor(STORE_DOWN))
  }
  const out: VerifyAnswer = {
    valid: false,
    code: result.code,
    keyId: result.keyId ?? null,
    owner: null,
    name: null,
    scopes: null,
    metadata: null,
    expiresAt: null,
    ratelimit: mostConstraining(result.rateLimit),
  }
  if (result.missingScopes !== undefined) out.missingScopes = result.missingScopes
  if (result.retryAfterSeconds !== undefined) out.retryAfter = result.retryAfterSeconds
  return out
}

/** `POST /v1/keys/verify`, for callers holding a key with `keys:verify`. */
export const verifyRoutes: FastifyPluginAsync<{ keyward: Keyward }> = async (app, { keyward }) => {
  app.post<{ Body: VerifyBody }>(
    '/v1/keys/verify',
    {
      config: VERIFY,
      schema: {
        summary:
          "Check a key for a request: valid or why not, with the key's identity and limits; applies its rate limits and quota",
        tags: ['verify'],
        body: verifyBody,
        response: { 200: verifyAnswerSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { key } = request.body
      const options = verifyOptions(request.body)
      // the same two calls the middleware makes: the cache alone when it can answer
      const result = keyward.verifyCached(key, options) ?? (await keyward.verify(key, options))
      return answer(result, request, reply)
    },
  )
}
