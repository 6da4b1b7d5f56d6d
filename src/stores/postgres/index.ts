export { describePoolTarget, toPostgresKeywardError } from './errors.js'
export type { PostgresStoreOptions } from './options.js'
export { createPostgresStore } from './postgres-store.js'
export {
  changeChannel,
  createPostgresChangeFeed,
  type PostgresChangeFeedOptions,
} from './postgres-changes.js'
