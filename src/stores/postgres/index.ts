export { describePoolTarget, toPostgresKeywardError } from './errors.js'
export { createPostgresStore, type PostgresStoreOptions } from './postgres-store.js'
export {
  changeChannel,
  createPostgresChangeFeed,
  type PostgresChangeFeedOptions,
} from './postgres-changes.js'
