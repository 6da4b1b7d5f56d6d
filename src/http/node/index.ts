import type { IncomingMessage, ServerResponse } from 'node:http'
import type { VerifiedKey } from '../../core/keyward.js'
import { type AuthResult, createAuthenticator } from '../authenticate.js'
import { NodeRequestView, setHeaders, writeDenied } from '../node-view.js'
import type { ApiKeyOptions } from '../options.js'

export type { AuthDenied, AuthPreflight, AuthSuccess } from '../authenticate.js'
export * from '../public.js'
export type { DeniedResponse } from '../responses.js'
export { NodeRequestView, writeDenied }

// augment 'http': @types/node declares the classes there and re-exports them from 'node:http'
declare module 'http' {
  interface IncomingMessage {
    /** The verified key, set by keyward's `requireApiKey()` once the request is authenticated. */
    apiKey?: VerifiedKey
  }
}

/** The guard `requireApiKey()` returns for `node:http`. */
export interface NodeApiKeyGuard {
  /**
   * Authenticates the request. On success sets `req.apiKey` (and the `RateLimit` headers of a
   * key with limits on `res`), calls `next()` when given and resolves `true`; on denial writes the 4xx/5xx response and resolves `false`.
   */
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): Promise<boolean>
  /**
   * Authenticates without writing anything: the result carries the response to send, or
   * `headers` to add to a success.
   */
  authenticate(req: IncomingMessage): Promise<AuthResult>
}

/**
 * Protects a `node:http` handler (or any connect-style stack) with API keys.
 *
 * @example
 * const guard = requireApiKey({ keyward, scopes: ['orders:read'] })
 * http.createServer(async (req, res) => {
 *   if (!(await guard(req, res))) return // the 401/403/… is already sent
 *   res.end(JSON.stringify({ keyId: req.apiKey?.id }))
 * })
 * @throws KeywardError `invalid_options` naming a bad option
 */
export function requireApiKey(options: ApiKeyOptions<IncomingMessage>): NodeApiKeyGuard {
  const auth = createAuthenticator(options)
  const authenticate = (req: IncomingMessage) => auth.authenticate(new NodeRequestView(req), req)
  const scopes = auth.options.scopes
  // one promise per request: the callback form of the pipeline, settled here
  function guard(
    req: IncomingMessage,
    res: ServerResponse,
    next?: (error?: unknown) => void,
  ): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      // a throwing getCredential/onDenied is a bug of the caller: hand it to the error path
      const fail = (error: unknown) => {
        if (next === undefined) return reject(error)
        next(error)
        resolve(false)
      }
      const done = (result: AuthResult) => {
        if (!result.ok) {
          writeDenied(res, result.response)
          resolve(false)
          return
        }
        if (result.headers !== undefined) setHeaders(res, result.headers)
        if (result.key !== null) req.apiKey = result.key
        next?.()
        resolve(true)
      }
      try {
        auth.run(new NodeRequestView(req), req, scopes, done, fail)
      } catch (error) {
        fail(error)
      }
    })
  }
  guard.authenticate = authenticate
  return guard
}
