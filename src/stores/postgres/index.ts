export { describePoolTarget, toPostgresKeywardError } from './errors.js'
export { createPostgresStore, type PostgresStoreOptions } from './postgres-store.js'
