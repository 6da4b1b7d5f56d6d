// bench/limits: keyward's limiters alone against rate-limiter-flexible doing the same job in
// the same run: same key spread, same concurrency, same Redis server and one shared connection.
// With one limit per key both do the same job (targets >= 1.0, on Redis at concurrency 1, 10
// and 100); with two rate limits and a quota, all checked before any is charged, keyward does
// strictly more than rlflex's one limit (figures printed, no target). Limits are high enough
// that every request is admitted on both sides, so both measure the full charge path. Figures
// are ratios keyward / rlflex, median of alternating rounds, because absolute rates on a
// shared machine mean little.
import { Redis } from 'ioredis'
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible'
import { createMemoryLimiter } from '../src/limits/memory.js'
import { createRedisLimiter } from '../src/limits/redis.js'
import type { Limiter } from '../src/limits/types.js'

const KEYS = 1000
const LIMIT = 1_000_000_000
const WINDOW_S = 60
const ROUNDS = Number(process.env.BENCH_LIMITS_ROUNDS ?? 5)
const MEMORY_OPS = Number(process.env.BENCH_LIMITS_MEMORY_OPS ?? 300_000)
/** Decisions per timed run on Redis at concurrency 100; fewer with fewer in flight. */
const REDIS_OPS = Number(process.env.BENCH_LIMITS_REDIS_OPS ?? 30_000)
const MEMORY_CONCURRENCY = 1
const REDIS_CONCURRENCY = [1, 10, 100]
const redisOps = (concurrency: number) =>
  Math.round(REDIS_OPS * (concurrency >= 100 ? 1 : concurrency >= 10 ? 0.4 : 0.15))
const REDIS_URL =
  process.env.KEYWARD_REDIS_URL ?? process.env.KEYWARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

const partitions = Array.from({ length: KEYS }, (_, i) => `key:bench_${i}`)
// One frozen rule set, as a verified key carries it: compiled once, reused by every request.
const oneRule = Object.freeze([
  Object.freeze({ name: 'default', limit: LIMIT, windowMs: WINDOW_S * 1000 }),
])
const rules = Object.freeze([
  oneRule[0]!,
  Object.freeze({ name: 'hour', limit: LIMIT, windowMs: 3_600_000 }),
])
const quota = Object.freeze({ limit: LIMIT, periodMs: 86_400_000 })
/** What keyward is asked per decision: one limit, or two limits and a quota. */
type Shape = 'one limit' | '2 limits + quota'

type Op = (i: number) => Promise<unknown>

/** Runs `total` operations with `concurrency` workers each awaiting its own; returns ops/s. */
/**
 * Runs `total` operations with `concurrency` workers each awaiting its own; returns ops/s and,
 * when `latency` is set, the p99 of the operations' times in ms (two clock reads per
 * operation, on both sides alike; left out for the memory limiter, whose decisions take less).
 */
async function rate(
  total: number,
  concurrency: number,
  op: Op,
  latency = false,
): Promise<{ rate: number; p99Ms: number }> {
  let next = 0
  const times = latency ? new Float64Array(total) : null
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++
      if (times === null) await op(i)
      else {
        const t = process.hrtime.bigint()
        await op(i)
        times[i] = Number(process.hrtime.bigint() - t) / 1e6
      }
    }
  }
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const ops = total / (Number(process.hrtime.bigint() - start) / 1e9)
  if (times === null) return { rate: ops, p99Ms: Number.NaN }
  times.sort()
  return { rate: ops, p99Ms: times[Math.min(total - 1, Math.floor(total * 0.99))]! }
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

async function compare(
  label: string,
  shape: Shape,
  total: number,
  concurrency: number,
  keyward: Op,
  rlflex: Op,
): Promise<number> {
  const target = shape === 'one limit' ? 1 : undefined
  const latency = label === 'redis'
  // Warm-up: JIT, script cache, connections.
  await rate(Math.min(total, 5000), concurrency, keyward)
  await rate(Math.min(total, 5000), concurrency, rlflex)
  const ratios: number[] = []
  const ours: number[] = []
  const theirs: number[] = []
  const ourP99: number[] = []
  const theirP99: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const b1 = await rate(total, concurrency, rlflex, latency)
    const s = await rate(total, concurrency, keyward, latency)
    const b2 = await rate(total, concurrency, rlflex, latency)
    ratios.push((2 * s.rate) / (b1.rate + b2.rate))
    ours.push(s.rate)
    theirs.push((b1.rate + b2.rate) / 2)
    ourP99.push(s.p99Ms)
    theirP99.push(b1.p99Ms, b2.p99Ms)
  }
  const ratio = median(ratios)
  const verdict =
    target === undefined
      ? '(no target: keyward does more)'
      : `(target >= ${target.toFixed(2)}: ${ratio >= target ? 'met' : 'MISSED'})`
  const [po, pt] = [median(ourP99), median(theirP99)]
  const p99 = (ms: number) => (latency ? ` p99 ${ms.toFixed(3)} ms` : '')
  const p99Verdict =
    latency && target !== undefined
      ? `; p99 ${po >= pt ? '+' : ''}${((po / pt - 1) * 100).toFixed(0)} % (target <= +20 %: ${po <= pt * 1.2 ? 'met' : 'MISSED'})`
      : ''
  console.log(
    `bench/limits ${label}, concurrency ${concurrency}: keyward (${shape}) ${fmt(median(ours))} ops/s${p99(po)} vs rlflex (1 limit) ${fmt(median(theirs))} ops/s${p99(pt)}: ${ratio.toFixed(2)} ${verdict}${p99Verdict}`,
  )
  return ratio
}

function keywardOp(limiter: Limiter, shape: Shape): Op {
  if (shape === 'one limit')
    return (i) => limiter.consume({ partition: partitions[i % KEYS]!, rules: oneRule })
  return (i) => limiter.consume({ partition: partitions[i % KEYS]!, rules, quota })
}

/** Before timing: every request of the bench must be admitted, and by the backend under test. */
async function checkAdmits(limiter: Limiter): Promise<void> {
  for (let i = 0; i < KEYS; i++) {
    for (const d of [
      await limiter.consume({ partition: partitions[i]!, rules, quota }),
      await limiter.consume({ partition: partitions[i]!, rules: oneRule }),
    ])
      if (!d.allowed || d.degraded) throw new Error(`bench request refused: ${JSON.stringify(d)}`)
  }
}

console.log(
  `bench/limits: ${KEYS} keys round-robin, ${ROUNDS} rounds; memory ${fmt(MEMORY_OPS)} ops at concurrency ${MEMORY_CONCURRENCY}; redis ${REDIS_CONCURRENCY.map((c) => `${fmt(redisOps(c))} ops at concurrency ${c}`).join(', ')}, on one connection (${REDIS_URL})`,
)

const memory = createMemoryLimiter()
await checkAdmits(memory)
const rlMemory = new RateLimiterMemory({ points: LIMIT, duration: WINDOW_S })
const memoryOne = await compare(
  'memory',
  'one limit',
  MEMORY_OPS,
  MEMORY_CONCURRENCY,
  keywardOp(memory, 'one limit'),
  (i) => rlMemory.consume(partitions[i % KEYS]!),
)
await compare(
  'memory',
  '2 limits + quota',
  MEMORY_OPS,
  MEMORY_CONCURRENCY,
  keywardOp(memory, '2 limits + quota'),
  (i) => rlMemory.consume(partitions[i % KEYS]!),
)
await memory.close()

const client = new Redis(REDIS_URL)
await client.ping()
const suffix = `${process.pid}_${Date.now()}`
const redis = createRedisLimiter({
  client,
  keyPrefix: `kwbench_${suffix}`,
  failurePolicy: 'fail-closed',
})
await checkAdmits(redis)
const rlRedis = new RateLimiterRedis({
  storeClient: client,
  points: LIMIT,
  duration: WINDOW_S,
  keyPrefix: `rlbench_${suffix}`,
})
const redisOne: string[] = []
for (const shape of ['one limit', '2 limits + quota'] as const)
  for (const concurrency of REDIS_CONCURRENCY) {
    // keyward sends the decisions of one event-loop turn as one script run: with one request
    // at a time each decision pays a whole script run and a round trip
    const ratio = await compare(
      'redis',
      shape,
      redisOps(concurrency),
      concurrency,
      keywardOp(redis, shape),
      (i) => rlRedis.consume(partitions[i % KEYS]!),
    )
    if (shape === 'one limit') redisOne.push(`${ratio.toFixed(2)} at ${concurrency}`)
  }
// Every key has a TTL; deleting them now just keeps the shared Redis tidy.
for (const pattern of [`kwbench_${suffix}:*`, `rlbench_${suffix}:*`]) {
  const keys = await client.keys(pattern)
  for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500))
}
await client.quit()
console.log(
  `bench/limits summary, one limit per key, keyward / rlflex: memory ${memoryOne.toFixed(2)}, redis ${redisOne.join(', ')} (targets >= 1.00)`,
)
