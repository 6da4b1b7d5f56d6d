export { clientIp, normalizeIp, type TrustedProxies, trustProxies } from './client-ip.js'
export {
  createFailedAuthLimiter,
  type FailedAuthCheck,
  type FailedAuthLimiter,
  type FailedAuthLimiterOptions,
} from './failed-auth.js'
export { createMemoryLimiter, type MemoryLimiter, type MemoryLimiterOptions } from './memory.js'
export {
  createRedisLimiter,
  type RedisFailurePolicy,
  type RedisLimiter,
  type RedisLimiterClient,
  type RedisLimiterOptions,
} from './redis.js'
export { rateLimitHeaders, retryAfterSeconds } from './headers.js'
export { partitionOf } from './rules.js'
export type * from './types.js'
