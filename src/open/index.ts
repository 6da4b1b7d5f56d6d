// keyward/open: from settings (a database URL, the pepper variables) to an opened store or a
// ready Keyward, as the CLI and the examples do it.
export {
  type DatabaseTarget,
  DEFAULT_DATABASE_URL,
  parseDatabaseUrl,
  redactDatabaseUrl,
  resolveDatabaseUrl,
} from './database-url.js'
export {
  type OpenedKeyward,
  type OpenKeywardOptions,
  openKeyward,
} from './open-keyward.js'
export { type OpenedStore, type OpenStoreOptions, openStore } from './open-store.js'
export {
  devPepperPath,
  generatePepper,
  type LoadedPeppers,
  type PepperSource,
  peppersFromEnv,
  readPepperFile,
} from './peppers.js'
export type { OpenChangesOptions } from './open-changes.js'
export {
  type SigningSecretSource,
  signingSecretFromEnv,
  signingSecrets,
} from './signing-secrets.js'
