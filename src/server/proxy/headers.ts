// The headers the proxy forwards and returns. Upstream: the client's headers less the API key,
// less anything named X-Keyward-* (only keyward writes those), less hop-by-hop headers, plus
// the caller's identity and X-Forwarded-*. Back to the client: the upstream's headers less
// hop-by-hop ones (RFC 9110 §7.6.1).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { parseAuthorization } from '../../http/credentials.js'
import { normalizeIp, type TrustedProxies } from '../../limits/client-ip.js'

/** Hop-by-hop headers (and `expect`, which the proxy answers itself), never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** What the upstream learns about the caller. */
export interface Identity {
  readonly keyId: string
  readonly ownerId: string | null
  readonly scopes: readonly string[]
  /** The signed X-Keyward-Token. */
  readonly token: string
}

type OutgoingHeaders = Record<string, string | string[] | number | undefined>

/**
 * A header value for text that may hold any character: `%` and everything outside printable
 * ASCII are percent-encoded as UTF-8, so `decodeURIComponent` gives the text back.
 */
export function headerText(text: string): string {
  let out = ''
  for (const ch of text) {
    const c = ch.charCodeAt(0)
    if (c >= 0x20 && c <= 0x7e && c !== 0x25) out += ch
    else
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Names listed in a `Connection` header (hop-by-hop by declaration). */
function connectionListed(value: unknown): string[] {
  // the usual values name no header
  if (typeof value !== 'string' || value === 'keep-alive' || value === 'close') return []
  return value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '')
}

/**
 * Rewrites the headers reply-from is about to send upstream (a copy of the client's, `host`
 * already the upstream's, the headers the client's `Connection` named already removed), in
 * place.
 */
export function upstreamHeaders(
  headers: OutgoingHeaders,
  raw: IncomingMessage,
  identity: Identity | null,
  trustedProxies: TrustedProxies | null,
  https: boolean,
): OutgoingHeaders {
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name) || name === 'expect' || name.startsWith('x-keyward-'))
      delete headers[name]
  }
  // the credential: X-API-Key always, and Authorization when it holds one of keyward's schemes
  // (another scheme, e.g. Basic for the upstream itself, goes through)
  delete headers['x-api-key']
  const authorization = headers.authorization
  if (typeof authorization === 'string' && parseAuthorization(authorization, true, true) !== null)
    delete headers.authorization
  if (identity !== null) {
    headers['x-keyward-key-id'] = identity.keyId
    if (identity.ownerId !== null) headers['x-keyward-owner'] = headerText(identity.ownerId)
    headers['x-keyward-scopes'] = identity.scopes.join(' ')
    headers['x-keyward-token'] = identity.token
  }
  // X-Forwarded-For: what a trusted proxy in front said, then the peer; a direct caller's own
  // X-Forwarded-For is dropped, since it could name anyone
  const peer = normalizeIp(raw.socket.remoteAddress) ?? 'unknown'
  const before = raw.headers['x-forwarded-for']
  headers['x-forwarded-for'] =
    before !== undefined && trustedProxies?.has(peer) === true ? `${before}, ${peer}` : peer
  headers['x-forwarded-proto'] = https ? 'https' : 'http'
  const host = raw.headers.host
  if (host === undefined) delete headers['x-forwarded-host']
  else headers['x-forwarded-host'] = host
  return headers
}

/** The upstream's response headers less hop-by-hop ones, in place. */
export function clientHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  for (const name of connectionListed(headers.connection)) delete headers[name]
  for (const name of Object.keys(headers)) if (HOP_BY_HOP.has(name)) delete headers[name]
  return headers
}
