export { type KeywardClient, createClient } from './client.js'
export { KeywardError } from '../core/errors.js'
export type {
  ApiKeySource,
  ClientOptions,
  FetchFunction,
  RetryEvent,
  RetryOptions,
  TokenOptions,
} from './options.js'
export { TokenRequestError } from './token.js'
