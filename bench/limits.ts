// bench/limits: keyward's limiters against rate-limiter-flexible doing the same job in the same
// run: same key spread, same concurrency, same Redis server and one shared connection. keyward
// does strictly more per decision: two rate limits and a quota, all checked before any is
// charged; rlflex checks one limit. Limits are high enough that every request is admitted on
// both sides, so both measure the full charge path. Figures are ratios keyward / rlflex,
// median of alternating rounds, because absolute rates on a shared machine mean little.
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
const REDIS_OPS = Number(process.env.BENCH_LIMITS_REDIS_OPS ?? 30_000)
const MEMORY_CONCURRENCY = 1
const REDIS_CONCURRENCY = 100
const INFO_CONCURRENCY = [1, 10]
const REDIS_INFO_OPS = Number(process.env.BENCH_LIMITS_REDIS_INFO_OPS ?? 5_000)
const REDIS_URL =
  process.env.KEYWARD_REDIS_URL ?? process.env.KEYWARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

const partitions = Array.from({ length: KEYS }, (_, i) => `key:bench_${i}`)
// One frozen rule set, as a verified key carries it: compiled once, reused by every request.
const rules = Object.freeze([
  Object.freeze({ name: 'default', limit: LIMIT, windowMs: WINDOW_S * 1000 }),
  Object.freeze({ name: 'hour', limit: LIMIT, windowMs: 3_600_000 }),
])
const quota = Object.freeze({ limit: LIMIT, periodMs: 86_400_000 })

type Op = (i: number) => Promise<unknown>

/** Runs `total` operations with `concurrency` workers each awaiting its own; returns ops/s. */
async function rate(total: number, concurrency: number, op: Op): Promise<number> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < total) await op(next++)
  }
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return total / (Number(process.hrtime.bigint() - start) / 1e9)
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

async function compare(
  label: string,
  total: number,
  concurrency: number,
  keyward: Op,
  rlflex: Op,
  target = ' (target >= 1.00)',
): Promise<number> {
  // Warm-up: JIT, script cache, connections.
  await rate(Math.min(total, 5000), concurrency, keyward)
  await rate(Math.min(total, 5000), concurrency, rlflex)
  const ratios: number[] = []
  const ours: number[] = []
  const theirs: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const b1 = await rate(total, concurrency, rlflex)
    const s = await rate(total, concurrency, keyward)
    const b2 = await rate(total, concurrency, rlflex)
    ratios.push((2 * s) / (b1 + b2))
    ours.push(s)
    theirs.push((b1 + b2) / 2)
  }
  const ratio = median(ratios)
  console.log(
    `bench/limits ${label}: keyward (2 limits + quota) ${fmt(median(ours))} ops/s | rlflex (1 limit) ${fmt(median(theirs))} ops/s | ratio ${ratio.toFixed(2)}${target}`,
  )
  return ratio
}

function keywardOp(limiter: Limiter): Op {
  return (i) => limiter.consume({ partition: partitions[i % KEYS]!, rules, quota })
}

/** Before timing: every request of the bench must be admitted, and by the backend under test. */
async function checkAdmits(limiter: Limiter): Promise<void> {
  for (let i = 0; i < KEYS; i++) {
    const d = await limiter.consume({ partition: partitions[i]!, rules, quota })
    if (!d.allowed || d.degraded) throw new Error(`bench request refused: ${JSON.stringify(d)}`)
  }
}

console.log(
  `bench/limits: ${KEYS} keys round-robin, ${ROUNDS} rounds; memory ${fmt(MEMORY_OPS)} ops x concurrency ${MEMORY_CONCURRENCY}; redis ${fmt(REDIS_OPS)} ops x concurrency ${REDIS_CONCURRENCY} on one connection (${REDIS_URL})`,
)

const memory = createMemoryLimiter()
await checkAdmits(memory)
const rlMemory = new RateLimiterMemory({ points: LIMIT, duration: WINDOW_S })
const memoryRatio = await compare(
  'memory',
  MEMORY_OPS,
  MEMORY_CONCURRENCY,
  keywardOp(memory),
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
const redisRatio = await compare('redis', REDIS_OPS, REDIS_CONCURRENCY, keywardOp(redis), (i) =>
  rlRedis.consume(partitions[i % KEYS]!),
)
// For information, no target: fewer requests in flight. keyward sends the decisions of one
// event-loop turn as one script run, so its advantage grows with concurrency; with one request
// at a time each decision pays a whole script run and a round trip.
for (const concurrency of INFO_CONCURRENCY) {
  await compare(
    `redis (info, concurrency ${concurrency})`,
    REDIS_INFO_OPS,
    concurrency,
    keywardOp(redis),
    (i) => rlRedis.consume(partitions[i % KEYS]!),
    '',
  )
}
// Every key has a TTL; deleting them now just keeps the shared Redis tidy.
for (const pattern of [`kwbench_${suffix}:*`, `rlbench_${suffix}:*`]) {
  const keys = await client.keys(pattern)
  for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500))
}
await client.quit()
console.log(
  `bench/limits summary: memory ${memoryRatio.toFixed(2)}, redis ${redisRatio.toFixed(2)} (keyward / rlflex)`,
)
