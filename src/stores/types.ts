export type {
  AuditEvent,
  AuditQuery,
  FoundKey,
  FoundKeyFields,
  KeyPage,
  KeyPatch,
  KeyRecord,
  KeyState,
  KeyStatusFilter,
  ListKeysQuery,
  QuotaRule,
  RateLimitRule,
  SecretRecord,
  SigningKeyRecord,
  Store,
  UsageEntry,
} from '../core/types.js'
export { foundKey } from './found-key.js'
