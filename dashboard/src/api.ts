// Every call the dashboard makes: the documented admin API and the session endpoints, with the
// session cookie (sent by the browser, never readable here) and the CSRF header on calls that
// change something. The admin key is sent once, at sign-in, and not kept.

/** An RFC 9457 answer of the server. */
export interface Problem {
  status: number
  code: string
  title: string
  detail: string
}

export class ApiError extends Error {
  readonly problem: Problem
  constructor(problem: Problem) {
    super(problem.detail)
    this.problem = problem
  }
}

/** The server could not be reached (it is down, restarting, or the network is). */
export class OfflineError extends Error {}

export interface SessionInfo {
  keyId: string
  name: string
  hint: string
  scopes: string[]
  expiresAt: string
  idleTimeoutSeconds: number
  csrfToken: string
}

type Listener = () => void
let csrfToken: string | null = null
const offlineListeners = new Set<(offline: boolean) => void>()
const signedOutListeners = new Set<(problem: Problem) => void>()
let offline = false

/** Told when the server goes away and comes back. */
export function onConnectivity(listener: (offline: boolean) => void): Listener {
  offlineListeners.add(listener)
  return () => offlineListeners.delete(listener)
}

/** Told when a call answers 401: the session ended (expired, signed out, key revoked). */
export function onSignedOut(listener: (problem: Problem) => void): Listener {
  signedOutListeners.add(listener)
  return () => signedOutListeners.delete(listener)
}

function setOffline(value: boolean): void {
  if (offline === value) return
  offline = value
  for (const l of offlineListeners) l(value)
}

export function isOffline(): boolean {
  return offline
}

const SAFE = new Set(['GET', 'HEAD'])

async function problemOf(res: Response): Promise<Problem> {
  let body: Partial<Problem> = {}
  try {
    body = (await res.json()) as Partial<Problem>
  } catch {
    // not JSON: a proxy's page, say
  }
  return {
    status: res.status,
    code: typeof body.code === 'string' ? body.code : `http_${res.status}`,
    title: typeof body.title === 'string' ? body.title : res.statusText,
    detail:
      typeof body.detail === 'string'
        ? body.detail
        : `The server answered ${res.status} ${res.statusText}.`,
  }
}

interface CallOptions {
  body?: unknown
  /** Sign-in only: the admin key, in the Authorization header. */
  key?: string
  /** Do not treat a 401 as the end of the session (sign-in, the first session check). */
  quiet401?: boolean
}

/** Calls the server; throws ApiError for a problem answer and OfflineError when unreachable. */
export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  if (!SAFE.has(method) && csrfToken !== null) headers['x-keyward-csrf'] = csrfToken
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    })
  } catch {
    setOffline(true)
    throw new OfflineError('The server cannot be reached.')
  }
  setOffline(false)
  if (res.status === 204) return undefined as T
  if (!res.ok) {
    const problem = await problemOf(res)
    if (res.status === 401 && options.quiet401 !== true) {
      csrfToken = null
      for (const l of signedOutListeners) l(problem)
    }
    throw new ApiError(problem)
  }
  return (await res.json()) as T
}

/** Polls the open health route until the server answers again. */
export async function checkServer(): Promise<boolean> {
  try {
    const res = await fetch('/healthz', { cache: 'no-store' })
    setOffline(false)
    return res.ok
  } catch {
    setOffline(true)
    return false
  }
}

export async function signIn(key: string): Promise<SessionInfo> {
  const session = await call<SessionInfo>('POST', '/dashboard/api/session', { key, quiet401: true })
  csrfToken = session.csrfToken
  return session
}

/** The session of the cookie, or null when there is none. */
export async function currentSession(): Promise<SessionInfo | null> {
  try {
    const session = await call<SessionInfo>('GET', '/dashboard/api/session', { quiet401: true })
    csrfToken = session.csrfToken
    return session
  } catch (error) {
    if (error instanceof ApiError && (error.problem.status === 401 || error.problem.status === 404))
      return null
    throw error
  }
}

export async function signOut(): Promise<void> {
  try {
    await call<void>('DELETE', '/dashboard/api/session', { quiet401: true })
  } finally {
    csrfToken = null
  }
}

// --- the admin API's shapes (DESIGN.md, API-NEXT) ---

export type KeyStatus = 'active' | 'revoked' | 'expired' | 'disabled'

export interface SecretInfo {
  hint: string
  createdAt: string
  expiresAt: string | null
  lastUsedAt: string | null
  state: 'current' | 'grace' | 'expired'
}

export interface ApiKey {
  id: string
  name: string
  owner: string | null
  status: KeyStatus
  prefix: string
  hint: string
  scopes: string[]
  roles: string[]
  rateLimits: { name: string; limit: number; window: string }[]
  quota: { limit: number; period: string } | null
  metadata: Record<string, unknown>
  ipAllowlist: string[]
  createdAt: string
  updatedAt: string
  expiresAt: string | null
  revokedAt: string | null
  lastUsedAt: string | null
  usageCount: number
  secrets?: SecretInfo[]
  policy?: { maxAge?: string | null; pastPolicy: boolean; expiresInDays?: number }
}

export interface KeyWithSecret extends ApiKey {
  key: string
}

export interface KeyPage {
  items: ApiKey[]
  nextCursor: string | null
}

export interface UsagePoint {
  at: string
  counts: Record<string, number>
}

export interface KeyUsage {
  keyId: string
  since: string
  until: string
  step: string
  series: UsagePoint[]
  totals: Record<string, number>
  firstIp?: string | null
  lastIp?: string | null
  routes?: { route: string; count: number }[]
}

export interface Overview {
  since: string
  until: string
  step: string
  series: UsagePoint[]
  totals: Record<string, number>
  topByTraffic: { keyId: string; name: string; total: number }[]
  topByDenials: { keyId: string; name: string; denied: number }[]
}

export interface AuditItem {
  id: string
  at: string
  type: string
  keyId: string | null
  actor: string | null
  ip: string | null
  details: Record<string, unknown>
  /** Identical denials of one key in one minute are one event with their number. */
  count?: number
}

export interface AuditPage {
  items: AuditItem[]
  nextCursor: string | null
}

/** A query string from the given, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  }
  const text = q.toString()
  return text === '' ? '' : `?${text}`
}
