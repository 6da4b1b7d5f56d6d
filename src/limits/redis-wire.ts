// The limiter script's wire format (redis-script.ts): the arguments of a batch of decisions,
// and the reading of its flat reply. redis.ts decides when a batch leaves and what a failure
// means; this only says what goes to Redis and what came back.
import type { CheckedRequest, CompiledQuota, CompiledRule } from './rules.js'
import { quotaPolicy, rulePolicyAhead } from './rules.js'
import type { LimitDecision, PolicyState } from './types.js'

/** What the script needs of one decision. */
export interface WireDecision {
  readonly req: CheckedRequest
  /** The partition's state hash. */
  readonly stateKey: string
  /** Its idempotency record, when the request has an idempotency key. */
  readonly idemKey: string | undefined
}

/** The script's constant arguments per rule set and quota, built once as strings. */
export class ScriptSpecs {
  private readonly specs = new WeakMap<
    readonly CompiledRule[],
    Map<CompiledQuota | null, string[]>
  >()

  get(rules: readonly CompiledRule[], quota: CompiledQuota | null): string[] {
    let byQuota = this.specs.get(rules)
    if (byQuota === undefined) {
      byQuota = new Map()
      this.specs.set(rules, byQuota)
    }
    let spec = byQuota.get(quota)
    if (spec === undefined) {
      spec = [
        String(rules.length),
        String(quota === null ? 0 : quota.limit),
        String(quota === null ? 0 : quota.periodUs),
        ...rules.map((r) => r.field),
        ...rules.flatMap((r) => [String(r.intervalUs), String(r.limit)]),
      ]
      // Bounded like the interned quotas (rules.ts): one plan's shared rules meet every quota.
      if (byQuota.size > 10_000) byQuota.clear()
      byQuota.set(quota, spec)
    }
    return spec
  }
}

/**
 * KEYS then ARGV of one script run for `entries` (redis-script.ts): a rule set shared by
 * several decisions is sent once, and a decision in the common case (cost 1, Redis' clock, no
 * idempotency key) is only its rule set's position.
 */
export function scriptArgs(
  entries: readonly WireDecision[],
  specs: ScriptSpecs,
  idempotencyTtlArg: string,
  deadlineArg: string,
): { numKeys: number; args: string[] } {
  const m = entries.length
  const keys: string[] = []
  const argv: string[] = [String(m), idempotencyTtlArg, deadlineArg]
  const specArgs: string[] = []
  let lastSpec: string[] | null = null
  let lastPos = ''
  let seen: Map<string[], string> | null = null
  for (const entry of entries) {
    const { req } = entry
    const spec = specs.get(req.rules, req.quota)
    let pos: string
    if (spec === lastSpec) pos = lastPos
    else {
      seen ??= new Map()
      let known = seen.get(spec)
      if (known === undefined) {
        known = String(m + 4 + specArgs.length)
        seen.set(spec, known)
        for (const a of spec) specArgs.push(a)
      }
      pos = known
      lastSpec = spec
      lastPos = pos
    }
    keys.push(entry.stateKey)
    if (entry.idemKey !== undefined) keys.push(entry.idemKey)
    argv.push(
      req.cost === 1 && req.nowMs === undefined && entry.idemKey === undefined
        ? pos
        : `${pos},${req.cost},${req.nowMs === undefined ? '' : req.nowMs * 1000},${entry.idemKey === undefined ? '' : req.operation}`,
    )
  }
  const numKeys = keys.length
  for (const a of argv) keys.push(a)
  for (const a of specArgs) keys.push(a)
  return { numKeys, args: keys }
}

/** What a batch's reply says as a whole, before its decisions are read. */
export type ReplyShape =
  /** Redis ran the batch after its deadline and charged nothing; its clock, µs, when given. */
  | { readonly kind: 'late'; readonly redisNowUs: number | undefined }
  /** Not a reply this client can read (a bug): better no decision than a wrong one. */
  | { readonly kind: 'unreadable' }
  /** Decisions to read; `failed` is the first failed decision's message, if any. */
  | { readonly kind: 'decisions'; readonly redisNowUs: number; readonly failed: string | undefined }

const UNREADABLE: ReplyShape = { kind: 'unreadable' }

/** Checks that `reply` holds one decision per entry, each integers or `!<message>`. */
export function replyShape(reply: unknown, entries: readonly WireDecision[]): ReplyShape {
  if (!Array.isArray(reply)) return UNREADABLE
  if (reply[0] === 'late')
    return { kind: 'late', redisNowUs: typeof reply[1] === 'number' ? reply[1] : undefined }
  if (typeof reply[0] !== 'number') return UNREADABLE
  let failed: string | undefined
  let j = 1
  for (let i = 0; i < entries.length; i++) {
    const head: unknown = reply[j]
    if (typeof head === 'string') {
      // a string is a failed decision, `!<message>`; anything else is a reply this client
      // cannot read: `j` then misses the reply's end
      if (head.charCodeAt(0) !== 33 /* ! */) break
      failed ??= head.slice(1)
      j++
    } else j += replyLength(entries[i]!.req)
  }
  return j === reply.length ? { kind: 'decisions', redisNowUs: reply[0], failed } : UNREADABLE
}

/**
 * The decision starting at `at` in a batch's flat reply (see redis-script.ts): the status
 * (0 admitted, -1 admitted as a replay, 3 idempotency key reused, else
 * `retryAfterMs * 4 + code`), per rule its TAT's lead on now in µs, then the quota's credits
 * left and reset; `rulePolicyAhead` derives remaining and reset, as for memory.
 */
export function decisionAt(
  reply: readonly number[],
  at: number,
  rules: readonly CompiledRule[],
  quota: CompiledQuota | null,
): LimitDecision {
  const n = rules.length
  const policies: PolicyState[] = new Array(n + (quota === null ? 0 : 1))
  for (let r = 0; r < n; r++) policies[r] = rulePolicyAhead(rules[r]!, reply[at + 1 + r]!)
  if (quota !== null) policies[n] = quotaPolicy(quota, reply[at + 1 + n]!, reply[at + 2 + n]!)
  const status = reply[at]!
  if (status === 0) return { allowed: true, policies }
  if (status === -1) return { allowed: true, policies, replayed: true }
  if (status === 3) return { allowed: false, code: 'idempotency_key_reused', policies }
  return {
    allowed: false,
    code: status % 4 === 2 ? 'quota_exhausted' : 'rate_limited',
    policies,
    retryAfterMs: Math.floor(status / 4),
  }
}

/** Integers in the script's reply for one decision. */
export function replyLength(req: CheckedRequest): number {
  return 1 + req.rules.length + (req.quota === null ? 0 : 2)
}
