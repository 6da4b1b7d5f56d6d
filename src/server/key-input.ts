// The API's key fields (durations as "1m", times as ISO 8601, `owner`) into the library's input.
// Shapes and types are checked by the route schemas; values by the library, which names the field.
import { parseDuration } from '../core/duration.js'
import type { CreateKeyInput, ListKeysInput, UpdateKeyInput } from '../core/key-admin.js'
import type { KeyStatusFilter, QuotaRule, RateLimitRule } from '../core/types.js'
import { bad } from '../core/validate.js'

interface ApiRateLimit {
  name: string
  limit: number
  window: string
}

/** The body of `POST /v1/keys` and `PATCH /v1/keys/:id` after schema validation. */
export interface ApiKeyFields {
  name?: string
  owner?: string | null
  scopes?: string[]
  roles?: string[]
  expiresIn?: string
  expiresAt?: string | null
  rateLimits?: ApiRateLimit[]
  quota?: { limit: number; period: string } | null
  metadata?: Record<string, unknown>
  ipAllowlist?: string[]
  prefix?: string
  enabled?: boolean
}

/** An ISO 8601 time of a request as epoch ms, or `invalid_argument` naming the field. */
export function isoToMs(text: string, what: string): number {
  const ms = Date.parse(text)
  if (Number.isNaN(ms))
    throw bad(`${what} ${JSON.stringify(text)} is not an ISO 8601 time: use e.g. 2026-01-31T12:00:00Z`)
  return ms
}

function rateLimits(rules: ApiRateLimit[]): RateLimitRule[] {
  return rules.map((r, i) => ({
    name: r.name,
    limit: r.limit,
    windowMs: parseDuration(r.window, `rateLimits[${i}].window`),
  }))
}

function quota(q: { limit: number; period: string } | null): QuotaRule | null {
  return q === null ? null : { limit: q.limit, periodMs: parseDuration(q.period, 'quota.period') }
}

function expiry(body: ApiKeyFields, now: number): number | null | undefined {
  if (body.expiresIn !== undefined && body.expiresAt !== undefined && body.expiresAt !== null)
    throw bad('give either expiresIn or expiresAt, not both')
  if (body.expiresIn !== undefined) return now + parseDuration(body.expiresIn, 'expiresIn')
  if (body.expiresAt === undefined) return undefined
  return body.expiresAt === null ? null : isoToMs(body.expiresAt, 'expiresAt')
}

/** The fields both create and update take. */
function common(body: ApiKeyFields, now: number): UpdateKeyInput {
  const input: UpdateKeyInput = {}
  if (body.name !== undefined) input.name = body.name
  if (body.owner !== undefined) input.ownerId = body.owner
  if (body.scopes !== undefined) input.scopes = body.scopes
  if (body.roles !== undefined) input.roles = body.roles
  const expiresAt = expiry(body, now)
  if (expiresAt !== undefined) input.expiresAt = expiresAt
  if (body.rateLimits !== undefined) input.rateLimits = rateLimits(body.rateLimits)
  if (body.quota !== undefined) input.quota = quota(body.quota)
  if (body.metadata !== undefined) input.metadata = body.metadata
  if (body.ipAllowlist !== undefined) input.ipAllowlist = body.ipAllowlist
  return input
}

/** `POST /v1/keys` body to `createKey` input. */
export function createInput(body: ApiKeyFields, actor: string, now: number): CreateKeyInput {
  const input = { ...common(body, now), name: body.name!, actor } as CreateKeyInput
  if (body.prefix !== undefined) input.prefix = body.prefix
  return input
}

/** `PATCH /v1/keys/:id` body to `updateKey` input. */
export function updateInput(body: ApiKeyFields, actor: string, now: number): UpdateKeyInput {
  const input = { ...common(body, now), actor }
  if (body.enabled !== undefined) input.enabled = body.enabled
  return input
}

/** The query of `GET /v1/keys` after schema validation (numbers arrive as text). */
export interface ListQuery {
  owner?: string
  status?: KeyStatusFilter
  prefix?: string
  scope?: string
  expiringBefore?: string
  limit?: string
  cursor?: string
}

/** `GET /v1/keys` query to `listKeys` input. */
export function listInput(query: ListQuery): ListKeysInput {
  const input: ListKeysInput = { limit: query.limit === undefined ? 100 : Number(query.limit) }
  if (query.owner !== undefined) input.ownerId = query.owner
  if (query.status !== undefined) input.status = query.status
  if (query.prefix !== undefined) input.prefix = query.prefix
  if (query.scope !== undefined) input.scope = query.scope
  if (query.expiringBefore !== undefined)
    input.expiringBefore = isoToMs(query.expiringBefore, 'expiringBefore')
  if (query.cursor !== undefined) input.cursor = query.cursor
  return input
}
