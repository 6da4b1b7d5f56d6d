export { toSqliteKeywardError } from './errors.js'
export { createSqliteStore, openSqliteStore, type SqliteStoreOptions } from './sqlite-store.js'
export { createSqliteChangeFeed, type SqliteChangeFeedOptions } from './sqlite-changes.js'
