// Dashboard sessions: what an admin key, verified once at sign-in, leaves behind. A session
// holds the key's id and the hint of the secret that signed in (never the secret, nor its hash),
// a CSRF token, and its times. The browser holds a random token in an HttpOnly cookie; this map
// is keyed by the token's SHA-256, so a heap dump holds no usable cookie and a lookup compares
// no secret byte by byte. Sessions live in this process: a restart signs everyone out, and
// several instances behind a balancer need the dashboard routed to one (docs/dashboard.md).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../core/clock.js'

export interface DashboardSession {
  /** SHA-256 of the cookie's token, base64url: the map key. */
  readonly id: string
  readonly keyId: string
  /** Hint of the secret that signed in: the session ends with that secret. */
  readonly hint: string
  /** Sent back by the dashboard in `X-Keyward-CSRF` on every state-changing call. */
  readonly csrfToken: string
  readonly createdAt: number
  lastSeenAt: number
  /** Absolute end, epoch ms; the idle limit may end it sooner. */
  readonly expiresAt: number
}

export interface SessionStoreOptions {
  /** A session unused this long ends. */
  idleMs: number
  /** A session ends this long after sign-in, used or not. */
  maxMs: number
  clock: Clock
  /** Most sessions kept; the least recently used one ends to make room. Default 10 000. */
  maxSessions?: number
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** Equal-length comparison that takes the same time wherever the strings differ. */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The sessions of one service. */
export class SessionStore {
  // a Map keeps insertion order: re-inserting on use makes the first entry the least recent
  private readonly sessions = new Map<string, DashboardSession>()
  private readonly idleMs: number
  private readonly maxMs: number
  private readonly clock: Clock
  private readonly maxSessions: number

  constructor(options: SessionStoreOptions) {
    this.idleMs = options.idleMs
    this.maxMs = options.maxMs
    this.clock = options.clock
    this.maxSessions = options.maxSessions ?? 10_000
  }

  get size(): number {
    return this.sessions.size
  }

  /** Lifetime of the cookie, seconds (the absolute limit; idleness is judged here). */
  get cookieMaxAgeSeconds(): number {
    return Math.ceil(this.maxMs / 1000)
  }

  /** Starts a session for a verified key; returns the cookie's token, shown nowhere else. */
  create(keyId: string, hint: string): { token: string; session: DashboardSession } {
    const now = this.clock.now()
    this.sweep(now)
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value
      if (oldest === undefined) break
      this.sessions.delete(oldest)
    }
    const token = randomBytes(32).toString('base64url')
    const session: DashboardSession = {
      id: digest(token),
      keyId,
      hint,
      csrfToken: randomBytes(24).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.maxMs,
    }
    this.sessions.set(session.id, session)
    return { token, session }
  }

  /** The live session of a cookie token, or null (unknown, idle too long, or past its end). */
  find(token: string): DashboardSession | null {
    // tokens are 43 characters; anything else is not worth hashing
    if (token.length !== 43) return null
    return this.live(this.sessions.get(digest(token)))
  }

  /** The live session with this id, or null. */
  get(id: string): DashboardSession | null {
    return this.live(this.sessions.get(id))
  }

  /** Records a use: the idle limit counts from now. */
  touch(session: DashboardSession): void {
    session.lastSeenAt = this.clock.now()
    if (this.sessions.delete(session.id)) this.sessions.set(session.id, session)
  }

  end(session: DashboardSession): void {
    this.sessions.delete(session.id)
  }

  /** When this session ends unless it is used again, epoch ms. */
  endsAt(session: DashboardSession): number {
    return Math.min(session.expiresAt, session.lastSeenAt + this.idleMs)
  }

  private live(session: DashboardSession | undefined): DashboardSession | null {
    if (session === undefined) return null
    if (this.endsAt(session) <= this.clock.now()) {
      this.sessions.delete(session.id)
      return null
    }
    return session
  }

  /** Drops ended sessions from the least recently used end. */
  private sweep(now: number): void {
    for (const session of this.sessions.values()) {
      if (this.endsAt(session) > now) break
      this.sessions.delete(session.id)
    }
  }
}
