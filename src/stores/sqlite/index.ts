export { toSqliteKeywardError } from './errors.js'
export { createSqliteStore, openSqliteStore, type SqliteStoreOptions } from './sqlite-store.js'
