// How a dashboard session authenticates admin calls through the one authentication path.
//
// Sign-in is an ordinary admin call: the admin key arrives in the Authorization header and the
// Fastify adapter verifies it (failed-auth limiter, status, scopes). The session keeps the key's
// id and the hint of that secret; the key itself is dropped with the request.
//
// Later calls carry the cookie instead. The `onRequest` hook below finds the session (and, on a
// state-changing call, checks the CSRF header); the adapter's `getCredential` then hands the
// authenticator a marker for that session instead of a key, and the verifier given to the
// adapter answers for the marker with `verifier.verifyEstablished`: the key and that secret,
// read from the store on every call and judged by the same code as `verify` (state, expiry, IP
// allowlist, scopes, limits). So each call still passes the adapter, its scopes per route, its
// denials and their responses: only the proof of the secret comes from the session.
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { Keyward } from '../core/keyward.js'
import type { VerifyOptions, VerifyResult } from '../core/verify-types.js'
import type { KeyVerifier } from '../http/options.js'
import { problem, sendProblem } from './problems.js'
import { type DashboardSession, type SessionStore, sameToken } from './sessions.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The dashboard session the request's cookie names; null without one. */
    dashboardSession: DashboardSession | null
  }
}

/** The header the dashboard sends on every state-changing call; a cross-site form cannot. */
export const CSRF_HEADER = 'x-keyward-csrf'

/**
 * Marks a session credential. Header values cannot hold NUL (Node's parser refuses them), so
 * no client can send a credential that starts with it: only `getCredential` makes one.
 */
const MARK = '\u0000session:'

/** Codes after which the session is over for good. */
const ENDS_SESSION = new Set(['key_invalid', 'key_revoked', 'key_expired', 'key_disabled'])

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The cookie's name: `__Host-` (bound to this host, Secure, Path=/) when served over HTTPS. */
export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-keyward_session' : 'keyward_session'
}

/** The value of one cookie in a `Cookie` header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (header === undefined) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return null
}

/** `Set-Cookie` for a new session, or (with `token` null) one that deletes the cookie. */
export function sessionCookie(
  name: string,
  token: string | null,
  maxAgeSeconds: number,
  secure: boolean,
): string {
  const value = token ?? ''
  const age = token === null ? 0 : maxAgeSeconds
  return `${name}=${value}; Path=/; Max-Age=${age}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}

export interface SessionAuthentication {
  /** The `keyward` option of the adapter: keys go to `keyward`, session markers to the store. */
  verifier: KeyVerifier
  /** The adapter's `getCredential`: the request's session as a marker, else the sources. */
  getCredential(request: FastifyRequest): string | undefined
  /** A global `onRequest` hook, added before the routes: finds the session, checks CSRF. */
  onRequest(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void
}

/** Wires sessions into the adapter; see the comment at the top of this file. */
export function sessionAuthentication(
  keyward: Keyward,
  sessions: SessionStore,
  cookieName: string,
  /** Verifies every credential that is not a session (keys, the service's tokens). */
  next: KeyVerifier = keyward,
): SessionAuthentication {
  function verifySession(credential: string, options?: VerifyOptions): Promise<VerifyResult> {
    const session = sessions.get(credential.slice(MARK.length))
    if (session === null) return Promise.resolve({ ok: false, code: 'key_invalid' })
    return keyward.verifier.verifyEstablished(session, options).then((result) => {
      if (result.ok) sessions.touch(session)
      else if (ENDS_SESSION.has(result.code)) sessions.end(session)
      return result
    })
  }

  const verifier: KeyVerifier = {
    verify(credential, options) {
      if (typeof credential === 'string' && credential.startsWith(MARK))
        return verifySession(credential, options)
      return next.verify(credential, options)
    },
    verifyCached(credential, options) {
      if (typeof credential === 'string' && credential.startsWith(MARK)) return undefined
      return next.verifyCached?.(credential, options)
    },
  }

  function getCredential(request: FastifyRequest): string | undefined {
    const session = request.dashboardSession
    return session === null ? undefined : MARK + session.id
  }

  function onRequest(
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
  ): void {
    const headers = request.headers
    // API callers send no cookie; a request with a key is authenticated by the key alone
    if (
      headers.cookie === undefined ||
      headers['x-api-key'] !== undefined ||
      headers.authorization !== undefined
    ) {
      done()
      return
    }
    const token = readCookie(headers.cookie, cookieName)
    const session = token === null ? null : sessions.find(token)
    if (session === null) {
      done()
      return
    }
    if (!SAFE_METHODS.has(request.method)) {
      const refusal = crossSiteRefusal(request, session)
      if (refusal !== null) {
        sendProblem(reply, problem('csrf_rejected', refusal))
        return
      }
    }
    request.dashboardSession = session
    done()
  }

  return { verifier, getCredential, onRequest }
}

/** Why a state-changing call with a session cookie is refused as cross-site, or null. */
function crossSiteRefusal(request: FastifyRequest, session: DashboardSession): string | null {
  const headers = request.headers
  const site = headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin')
    return `This call came from another site (Sec-Fetch-Site: ${site}) with a dashboard session cookie: use the dashboard itself, or send an API key instead of the cookie.`
  const origin = headers.origin
  if (origin !== undefined && origin !== 'null') {
    let host: string | null = null
    try {
      host = new URL(origin).host
    } catch {
      // an Origin that is not a URL is not this site
    }
    if (host !== headers.host)
      return 'This call came from another origin with a dashboard session cookie: use the dashboard itself, or send an API key instead of the cookie.'
  }
  const sent = headers[CSRF_HEADER]
  if (typeof sent !== 'string' || !sameToken(sent, session.csrfToken))
    return `A call that changes something needs the ${CSRF_HEADER} header of the session: the dashboard sends it; scripts should send an API key instead of the cookie.`
  return null
}
