export { auditEventHash, canonicalJson, GENESIS_HASH, verifyAuditChain } from './core/audit-chain.js'
export * from './core/base62.js'
export * from './core/clock.js'
export * from './core/duration.js'
export * from './core/errors.js'
export * from './core/hash.js'
export * from './core/ip.js'
export * from './core/key-format.js'
export * from './core/keyward.js'
export * from './core/scopes.js'
export type * from './core/types.js'
export {
  UsageRetention,
  type UsageRetentionOptions,
  type UsageRetentionRun,
} from './core/usage-retention.js'
