export { toSqliteKeywardError } from './errors.js'
export type { SqliteStoreOptions } from './options.js'
export { createSqliteStore, openSqliteStore } from './sqlite-store.js'
export { createSqliteChangeFeed, type SqliteChangeFeedOptions } from './sqlite-changes.js'
