import { createMemoryLimiter, positiveMs, rejectUnknown } from './memory.js'
import { LIMIT_SCRIPT, LIMIT_SCRIPT_SHA } from './redis-script.js'
import {
  badOption,
  type CheckedRequest,
  type CompiledQuota,
  type CompiledRule,
  checkPartition,
  checkRequest,
  decisionFromReply,
} from './rules.js'
import type { LimitDecision, Limiter, LimiterLogger, LimitRequest } from './types.js'

/**
 * What the Redis limiter needs from a client: an ioredis `Redis` or `Cluster` fits. The caller
 * owns the connection (creates, connects and closes it).
 */
export interface RedisLimiterClient {
  /** ioredis connection state (`ready`, `reconnecting`, …). */
  readonly status: string
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  del(...keys: string[]): Promise<number>
  /** ioredis pipelines: decisions started in the same tick go out in one write. */
  pipeline?(commands: unknown[][]): { exec(): Promise<[Error | null, unknown][] | null> }
  /** True for an ioredis `Cluster`, whose pipelines cannot span slots: no batching there. */
  readonly isCluster?: boolean
}

/** What to do when Redis cannot answer (down, unreachable, or slower than `timeoutMs`). */
export type RedisFailurePolicy = 'degrade' | 'fail-closed'

export interface RedisLimiterOptions {
  /** A connected ioredis client (`new Redis(url)`); shared, never closed by the limiter. */
  client: RedisLimiterClient
  /** Prefix of every key written, `[A-Za-z_][A-Za-z0-9_]*`, at most 64 characters. Default `keyward`. */
  keyPrefix?: string
  /**
   * `degrade` (default): decide with a local memory limiter while Redis is away, logging the
   * outage once; `fail-closed`: refuse with `store_unavailable` (HTTP 503 + Retry-After).
   */
  failurePolicy?: RedisFailurePolicy
  /** Longest wait for Redis before the failure policy applies. Default 500 ms. */
  timeoutMs?: number
  /** After a timeout or error, how long to skip Redis before one request probes it again. Default 1000 ms. */
  retryIntervalMs?: number
  /** `retryAfterMs` of `store_unavailable` decisions (`fail-closed`). Default 1000 ms. */
  unavailableRetryAfterMs?: number
  /** How long an admitted decision is remembered per idempotency key. Default 24 h. */
  idempotencyTtlMs?: number
  /** The limiter used while degraded. Default: `createMemoryLimiter()`. */
  fallback?: Limiter
  /** Told once when Redis goes away and once when it returns. Default `console`. */
  logger?: LimiterLogger
}

/** The Redis limiter: the `Limiter` contract plus its health, for readiness probes and metrics. */
export interface RedisLimiter extends Limiter {
  /** False while Redis is considered unavailable (decisions follow the failure policy). */
  readonly isAvailable: boolean
}

const KNOWN = new Set([
  'client',
  'keyPrefix',
  'failurePolicy',
  'timeoutMs',
  'retryIntervalMs',
  'unavailableRetryAfterMs',
  'idempotencyTtlMs',
  'fallback',
  'logger',
])
const PREFIX_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
// ioredis states in which a command would only wait in the offline queue.
const DOWN_STATES = new Set(['reconnecting', 'close', 'end'])

class RedisTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs} ms`)
    this.name = 'RedisTimeoutError'
  }
}

interface Pending {
  numKeys: number
  args: (string | number)[]
  resolve: (reply: unknown) => void
  reject: (error: unknown) => void
  done: boolean
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}

/**
 * `{` and `}` delimit the Redis Cluster hash tag, and `}` ends the partition inside the
 * idempotency key name: escaping them (and `%`) keeps key names injective.
 */
function escapePartition(partition: string): string {
  if (!/[{}%]/.test(partition)) return partition
  return partition.replace(/[{}%]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'))
}

/**
 * A limiter shared by every server using the same Redis: each decision is one Lua script run
 * through EVALSHA (EVAL on NOSCRIPT), atomic, on Redis' own clock, touching one hash per
 * partition (plus one key per idempotency key), each with a TTL.
 *
 * @example
 * import Redis from 'ioredis'
 * const client = new Redis(process.env.KEYWARD_REDIS_URL!)
 * const limiter = createRedisLimiter({ client, keyPrefix: 'myapp_rl' })
 * const d = await limiter.consume({ partition: `key:${key.id}`, rules: key.rateLimits, quota: key.quota })
 * @throws KeywardError `invalid_options` naming the bad option
 */
export function createRedisLimiter(options: RedisLimiterOptions): RedisLimiter {
  if (typeof options !== 'object' || options === null) {
    throw badOption('createRedisLimiter takes { client, keyPrefix?, failurePolicy?, … }')
  }
  rejectUnknown(options, KNOWN, 'createRedisLimiter')
  const { client } = options
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.evalsha !== 'function' ||
    typeof client.eval !== 'function'
  ) {
    throw badOption('"client" must be a connected ioredis client (new Redis(url))')
  }
  const keyPrefix = options.keyPrefix ?? 'keyward'
  if (typeof keyPrefix !== 'string' || !PREFIX_RE.test(keyPrefix)) {
    throw badOption(
      `"keyPrefix" must match ${PREFIX_RE} (letters, digits, "_"), got ${JSON.stringify(keyPrefix)}`,
    )
  }
  const failurePolicy = options.failurePolicy ?? 'degrade'
  if (failurePolicy !== 'degrade' && failurePolicy !== 'fail-closed') {
    throw badOption(
      `"failurePolicy" must be "degrade" or "fail-closed", got ${JSON.stringify(failurePolicy)}`,
    )
  }
  const timeoutMs = positiveMs(options.timeoutMs, 'timeoutMs', 500)
  const retryIntervalMs = positiveMs(options.retryIntervalMs, 'retryIntervalMs', 1000)
  const unavailableRetryAfterMs = positiveMs(
    options.unavailableRetryAfterMs,
    'unavailableRetryAfterMs',
    1000,
  )
  const idempotencyTtlMs = positiveMs(options.idempotencyTtlMs, 'idempotencyTtlMs', 86_400_000)
  const logger = options.logger ?? console
  if (typeof logger.warn !== 'function') throw badOption('"logger" must have a warn() method')
  if (options.fallback !== undefined && typeof options.fallback.consume !== 'function') {
    throw badOption('"fallback" must be a Limiter (e.g. createMemoryLimiter())')
  }
  const ownsFallback = options.fallback === undefined && failurePolicy === 'degrade'
  const fallback: Limiter | null =
    failurePolicy === 'degrade'
      ? (options.fallback ?? createMemoryLimiter({ idempotencyTtlMs }))
      : null
  const stateKeyPrefix = `${keyPrefix}:l:{`
  const idempotencyKeyPrefix = `${keyPrefix}:i:{`

  let isDown = false
  /** While down: Date.now() before which Redis is not tried again. */
  let skipUntilMs = 0
  let probing = false

  function markDown(reason: unknown, skipMs = retryIntervalMs): void {
    skipUntilMs = Date.now() + skipMs
    if (isDown) return
    isDown = true
    const what = reason instanceof Error ? reason.message : String(reason)
    logger.warn(
      failurePolicy === 'degrade'
        ? `keyward: Redis rate limiter unavailable (${what}); using local in-memory limits until it returns`
        : `keyward: Redis rate limiter unavailable (${what}); refusing requests with 503 until it returns`,
    )
  }

  function markUp(): void {
    if (!isDown) return
    isDown = false
    logger.warn('keyward: Redis rate limiter is reachable again; limits are shared again')
  }

  function unavailable(request: LimitRequest): Promise<LimitDecision> | LimitDecision {
    if (fallback === null) {
      return {
        allowed: false,
        code: 'store_unavailable',
        policies: [],
        retryAfterMs: unavailableRetryAfterMs,
      }
    }
    return fallback.consume(request).then((d) => ({ ...d, degraded: true }))
  }

  // The script's constant arguments per rule set and quota, built once as strings.
  const tails = new WeakMap<readonly CompiledRule[], Map<CompiledQuota | null, string[]>>()
  function argsTail(rules: readonly CompiledRule[], quota: CompiledQuota | null): string[] {
    let byQuota = tails.get(rules)
    if (byQuota === undefined) {
      byQuota = new Map()
      tails.set(rules, byQuota)
    }
    let tail = byQuota.get(quota)
    if (tail === undefined) {
      tail = [
        String(rules.length),
        String(quota === null ? 0 : quota.limit),
        String(quota === null ? 0 : quota.periodUs),
        String(idempotencyTtlMs),
        ...rules.map((r) => r.field),
        'x',
        ...(quota === null ? [] : ['qr', 'qu']),
        ...rules.flatMap((r) => [String(r.intervalUs), String(r.limit)]),
      ]
      // Bounded: quotas are per key record, so a long-lived rules array sees few of them.
      if (byQuota.size > 100) byQuota.clear()
      byQuota.set(quota, tail)
    }
    return tail
  }

  const canPipeline = typeof client.pipeline === 'function' && client.isCluster !== true
  let queue: Pending[] = []

  function settle(entry: Pending, error: unknown, reply: unknown): void {
    if (entry.done) return
    entry.done = true
    if (error) entry.reject(error)
    else entry.resolve(reply)
  }

  /** EVALSHA, or EVAL when Redis lost its script cache (restart, SCRIPT FLUSH, failover). */
  function evalOne(entry: Pending): void {
    client.evalsha(LIMIT_SCRIPT_SHA, entry.numKeys, ...entry.args).then(
      (reply) => settle(entry, null, reply),
      (error: unknown) => {
        if (!isNoScript(error)) return settle(entry, error, null)
        client.eval(LIMIT_SCRIPT, entry.numKeys, ...entry.args).then(
          (reply) => settle(entry, null, reply),
          (e: unknown) => settle(entry, e, null),
        )
      },
    )
  }

  // Decisions started in the same tick (a burst of requests, or callers awaiting together) are
  // sent as one pipeline: one socket write and one timeout timer for all of them.
  function flush(): void {
    const batch = queue
    queue = []
    const timer = setTimeout(() => {
      const error = new RedisTimeoutError(timeoutMs)
      for (const entry of batch) settle(entry, error, null)
    }, timeoutMs)
    let left = batch.length
    const done = (): void => {
      if (--left === 0) clearTimeout(timer)
    }
    for (const entry of batch) {
      const { resolve, reject } = entry
      entry.resolve = (v) => {
        done()
        resolve(v)
      }
      entry.reject = (e) => {
        done()
        reject(e)
      }
    }
    if (batch.length === 1 || !canPipeline) {
      for (const entry of batch) evalOne(entry)
      return
    }
    const commands = batch.map((e) => ['evalsha', LIMIT_SCRIPT_SHA, e.numKeys, ...e.args])
    client.pipeline!(commands)
      .exec()
      .then(
        (results) => {
          for (let i = 0; i < batch.length; i++) {
            const entry = batch[i]!
            const [error, reply] = results?.[i] ?? [new Error('Redis pipeline was discarded'), null]
            if (error && isNoScript(error)) evalOne(entry)
            else settle(entry, error, reply)
          }
        },
        (error: unknown) => {
          for (const entry of batch) settle(entry, error, null)
        },
      )
  }

  function run(req: CheckedRequest): Promise<unknown> {
    const partition = escapePartition(req.partition)
    const stateKey = `${stateKeyPrefix}${partition}}`
    const now = req.nowMs === undefined ? '' : String(req.nowMs * 1000)
    const tail = argsTail(req.rules, req.quota)
    let numKeys = 1
    let args: (string | number)[]
    if (req.idempotencyKey === undefined) {
      args = [stateKey, now, req.cost, ...tail]
    } else {
      numKeys = 2
      const idemKey = `${idempotencyKeyPrefix}${partition}}:${req.idempotencyKey}`
      args = [stateKey, idemKey, now, req.cost, ...tail]
    }
    return new Promise((resolve, reject) => {
      if (queue.length === 0) process.nextTick(flush)
      queue.push({ numKeys, args, resolve, reject, done: false })
    })
  }

  async function consume(request: LimitRequest): Promise<LimitDecision> {
    const req = checkRequest(request)
    if (req.rules.length === 0 && req.quota === null) return { allowed: true, policies: [] }
    if (DOWN_STATES.has(client.status)) {
      // No skip interval: ioredis reconnects by itself, and the first request after it is
      // ready should use Redis again.
      markDown(`connection ${client.status}`, 0)
      return unavailable(request)
    }
    let isProbe = false
    if (isDown) {
      // While down, one request at a time probes Redis once per retry interval; the others
      // are answered by the failure policy without waiting for a timeout.
      if (probing || Date.now() < skipUntilMs) return unavailable(request)
      probing = true
      isProbe = true
    }
    let reply: unknown
    try {
      reply = await run(req)
    } catch (error) {
      markDown(error)
      return unavailable(request)
    } finally {
      if (isProbe) probing = false
    }
    markUp()
    if (typeof reply === 'string') {
      return {
        ...decisionFromReply(reply.split(',').map(Number), req.rules, req.quota),
        replayed: true,
      }
    }
    return decisionFromReply(reply as number[], req.rules, req.quota)
  }

  return {
    kind: 'redis',
    get isAvailable() {
      return !isDown
    },
    consume,
    async reset(partition) {
      const key = `${stateKeyPrefix}${escapePartition(checkPartition(partition))}}`
      await client.del(key)
      await fallback?.reset(partition)
    },
    async close() {
      if (ownsFallback) await fallback?.close()
    },
  }
}
