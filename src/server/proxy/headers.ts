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

/** Names the proxy never forwards upstream as the client sent them (it writes some itself). */
function dropped(name: string): boolean {
  return (
    HOP_BY_HOP.has(name) ||
    name === 'expect' ||
    name === 'x-api-key' ||
    name.startsWith('x-keyward-') ||
    name === 'x-forwarded-for' ||
    name === 'x-forwarded-proto' ||
    name === 'x-forwarded-host'
  )
}

/** Authorization holding one of keyward's schemes (another, e.g. Basic for the upstream, goes). */
function isCredential(value: unknown): boolean {
  return typeof value === 'string' && parseAuthorization(value, true, true) !== null
}

/**
 * The headers to send upstream, from those reply-from is about to send (a copy of the client's,
 * `host` already the upstream's, the headers the client's `Connection` named already removed).
 * Built as a new object: deleting from the copy would slow every later read of it.
 */
export function upstreamHeaders(
  headers: OutgoingHeaders,
  raw: IncomingMessage,
  identity: Identity | null,
  trustedProxies: TrustedProxies | null,
  https: boolean,
): OutgoingHeaders {
  const out: OutgoingHeaders = {}
  for (const name of Object.keys(headers)) {
    const value = headers[name]
    // the credential: X-API-Key always, Authorization when it holds one
    if (!dropped(name) && !(name === 'authorization' && isCredential(value))) out[name] = value
  }
  if (identity !== null) {
    out['x-keyward-key-id'] = identity.keyId
    if (identity.ownerId !== null) out['x-keyward-owner'] = headerText(identity.ownerId)
    out['x-keyward-scopes'] = identity.scopes.join(' ')
    out['x-keyward-token'] = identity.token
  }
  // X-Forwarded-For: what a trusted proxy in front said, then the peer; a direct caller's own
  // X-Forwarded-For is dropped, since it could name anyone
  const peer = normalizeIp(raw.socket.remoteAddress) ?? 'unknown'
  const before = raw.headers['x-forwarded-for']
  out['x-forwarded-for'] =
    before !== undefined && trustedProxies?.has(peer) === true ? `${before}, ${peer}` : peer
  out['x-forwarded-proto'] = https ? 'https' : 'http'
  const host = raw.headers.host
  if (host !== undefined) out['x-forwarded-host'] = host
  return out
}

/** The upstream's response headers less hop-by-hop ones, as a new object (see above). */
export function clientHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const listed = connectionListed(headers.connection)
  const out: IncomingHttpHeaders = {}
  for (const name of Object.keys(headers))
    if (!HOP_BY_HOP.has(name) && !listed.includes(name)) out[name] = headers[name]
  return out
}
