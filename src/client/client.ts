import { KeywardError } from '../core/errors.js'
import { assertValidApiKey, type ClientOptions, resolveClientOptions } from './options.js'
import { type PreparedRequest, prepareRequest } from './request.js'
import { type SendContext, send } from './send.js'
import { TokenSource } from './token.js'

/** What {@link createClient} returns. */
export interface KeywardClient {
  /**
   * `fetch`, with the credential added, retries, timeouts and (in token mode) tokens. A
   * final 429/503 is returned like any response; a call that got no response throws.
   *
   * @throws KeywardError `invalid_argument` (a request the client refuses to send),
   * `timeout`, `network`; `TokenRequestError` (`token_request_failed`); the caller's
   * `signal.reason` when it aborts
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
}

/**
 * A `fetch` for calling a service protected by keyward. Key mode sends the key in
 * `X-API-Key`; token mode (`token: { url }`) trades it for short-lived access tokens and
 * sends `Authorization: Bearer <token>`. 429 and 503 are retried, honouring `Retry-After`,
 * for idempotent requests and requests carrying an `Idempotency-Key`.
 *
 * @example
 * const orders = createClient({ apiKey: process.env.ORDERS_KEY!, baseUrl: 'https://orders.internal' })
 * const res = await orders.fetch('/orders?status=open')
 *
 * @example
 * const orders = createClient({
 *   apiKey: process.env.ORDERS_KEY!,
 *   baseUrl: 'https://orders.internal',
 *   token: { url: 'https://keyward.internal/oauth/token', scope: 'orders:read' },
 * })
 *
 * @throws KeywardError `invalid_options` naming the option that is wrong
 */
export function createClient(options: ClientOptions): KeywardClient {
  const resolved = resolveClientOptions(options)
  const { apiKey } = resolved
  // the last key seen, to refuse URLs that carry it
  let lastKey: string | null = typeof apiKey === 'string' ? apiKey : null
  const keyOf = async (): Promise<string> => {
    if (typeof apiKey === 'string') return apiKey
    const key = await apiKey()
    assertValidApiKey(key, 'the "apiKey" function\'s result')
    lastKey = key
    return key
  }
  const tokens = resolved.token === null ? null : new TokenSource(resolved, resolved.token, keyOf)

  const refuseKeyInUrl = (request: PreparedRequest, key: string | null): void => {
    if (
      key !== null &&
      (request.url.href.includes(key) || safeDecode(request.url.href).includes(key))
    ) {
      throw new KeywardError(
        'invalid_argument',
        `the URL to ${request.url.origin} contains the API key: keys in URLs end up in logs; the client sends it in a header, so take it out`,
      )
    }
  }

  return {
    fetch: async (input, init) => {
      const request = prepareRequest(input, init, resolved)
      if (request.signal?.aborted) throw request.signal.reason
      const deadlineAt = Date.now() + resolved.deadlineMs
      const context: SendContext = { options: resolved, target: 'api', deadlineAt }
      if (tokens === null) {
        const key = await keyOf()
        refuseKeyInUrl(request, key)
        context.authorize = async (headers) => {
          headers.set('x-api-key', key)
          return null
        }
      } else {
        refuseKeyInUrl(request, lastKey)
        context.authorize = async (headers) => {
          const token = await tokens.get(request.signal, deadlineAt)
          headers.set('authorization', `Bearer ${token}`)
          return token
        }
        context.onUnauthorized = (token) => tokens.invalidate(token)
      }
      return send(request, context)
    },
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
