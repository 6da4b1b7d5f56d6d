// Real HTTP servers for the keyward/client tests: a token issuer and a protected API, both
// recording what they saw. `startTarget()` starts small stand-ins that tests can steer in time
// (a faked Date moves both); `startKeywardTarget()` starts the real thing: `keyward serve` (the
// built CLI: token endpoint, JWKS) and an upstream protected by keyward's own middleware,
// accepting keys and the tokens keyward serve issues.
import { randomBytes } from 'node:crypto'
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { createClient, type KeywardClient } from '../../src/client/client.js'
import type { ClientOptions, RetryEvent } from '../../src/client/options.js'
import { createKeyward } from '../../src/core/keyward.js'
import { requireApiKey } from '../../src/http/node/index.js'
import { createMemoryLimiter } from '../../src/limits/memory.js'
import { openSqliteStore } from '../../src/stores/sqlite/index.js'
import { acceptTokens } from '../../src/tokens/accept.js'
import {
  requireBuild,
  SERVE_PEPPER,
  spawnServe,
  stopServe,
  tempDir,
} from '../fixtures/serve-process.js'

/** A request as a server received it. */
export interface SeenRequest {
  method: string
  /** The request target as received (path and query). */
  url: string
  headers: IncomingHttpHeaders
  body: string
  /** The key (or token's key) keyward's middleware verified, on a real upstream. */
  keyId?: string
}

/** A scripted answer: a response, or `hang` (never answer), or `reset` (drop the connection). */
export type Scripted =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | 'hang'
  | 'reset'

interface Scripting {
  /** Answers for the next requests to `path` (without query), in order; then the default. */
  queue(path: string, ...answers: Scripted[]): void
  seen: SeenRequest[]
}

/** The token endpoint side. */
export interface Issuer extends Scripting {
  tokenUrl: string
  /** Every request to the token endpoint. */
  readonly tokenRequests: SeenRequest[]
  /** Tokens issued so far, oldest first. */
  readonly issued: string[]
  /** Makes every issued token invalid at the API (as a revoked key would). */
  revokeTokens(): void
}

/** The protected API side. */
export interface Api extends Scripting {
  baseUrl: string
}

/** What the client under test talks to. */
export interface Target {
  key: string
  keyId: string
  issuer: Issuer
  api: Api
  /** Token lifetime the issuer grants, in seconds. */
  tokenLifetimeS: number
  /** Every URL either server saw. */
  urlsSeen(): string[]
  close(): Promise<void>
}

interface Listening extends Scripting {
  url: string
  close(): Promise<void>
}

/**
 * A server that records every request, answers scripted ones, and hands the rest to `handle`.
 * `gate` (keyward's middleware, for a real upstream) runs first: a request it refuses (it
 * answered, and resolved false) gets no script.
 */
async function listen(
  handle: (req: SeenRequest, res: ServerResponse) => void,
  gate?: (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => Promise<boolean>,
): Promise<Listening> {
  const scripts = new Map<string, Scripted[]>()
  const seen: SeenRequest[] = []
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', async () => {
      const request: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }
      seen.push(request)
      if (gate !== undefined && !(await gate(req, res, request))) return
      const answer = scripts.get(request.url.split('?')[0] ?? '')?.shift()
      if (answer === 'hang') return
      if (answer === 'reset') {
        req.socket.destroy()
        return
      }
      if (answer !== undefined) {
        const send = () => res.writeHead(answer.status, answer.headers).end(answer.body ?? '')
        if (answer.delayMs === undefined) send()
        else setTimeout(send, answer.delayMs)
        return
      }
      handle(request, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    queue: (path, ...answers) => scripts.set(path, [...(scripts.get(path) ?? []), ...answers]),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(JSON.stringify(body))
}

/** The credential a token request carried: X-API-Key, or Basic `client_id:secret`. */
function clientSecretOf(req: SeenRequest, keyId: string): string | undefined {
  const header = req.headers['x-api-key']
  if (typeof header === 'string') return header
  const auth = req.headers.authorization ?? ''
  if (!auth.startsWith('Basic ')) return undefined
  const [id, secret] = Buffer.from(auth.slice(6), 'base64').toString().split(':')
  return id !== undefined && decodeURIComponent(id) === keyId && secret !== undefined
    ? decodeURIComponent(secret.replace(/\+/g, ' '))
    : undefined
}

/**
 * Starts an issuer (OAuth 2.0 client credentials, RFC 6749 §4.4 and §5) and an API that
 * accepts the key in `X-API-Key` or a live token as `Bearer`. Token expiry follows
 * `Date.now()`, so a test with a faked Date moves both the client and the issuer in time.
 */
export async function startTarget(options: { tokenLifetimeS?: number } = {}): Promise<Target> {
  const key = `kw_test_${randomBytes(24).toString('base64url').replace(/[-_]/g, 'x')}`
  const keyId = `key_${randomBytes(8).toString('hex')}`
  const tokenLifetimeS = options.tokenLifetimeS ?? 60
  const tokens = new Map<string, number>() // token -> expiresAt
  const issued: string[] = []

  const issuerServer = await listen((req, res) => {
    if (req.method !== 'POST' || req.url !== '/oauth/token')
      return json(res, 404, { error: 'not_found' })
    const form = new URLSearchParams(req.body)
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') {
      return json(res, 400, { error: 'invalid_request', error_description: 'form body expected' })
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return json(res, 400, { error: 'unsupported_grant_type' })
    }
    if (clientSecretOf(req, keyId) !== key) {
      return json(
        res,
        401,
        { error: 'invalid_client', error_description: 'unknown client' },
        { 'www-authenticate': 'Basic realm="keyward"' },
      )
    }
    const token = randomBytes(24).toString('base64url')
    tokens.set(token, Date.now() + tokenLifetimeS * 1000)
    issued.push(token)
    return json(res, 200, {
      access_token: token,
      token_type: 'Bearer',
      expires_in: tokenLifetimeS,
      scope: form.get('scope') ?? 'orders:read orders:write',
    })
  })

  const apiServer = await listen((req, res) => {
    const apiKey = req.headers['x-api-key']
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    const expiresAt = bearer === undefined ? undefined : tokens.get(bearer)
    const isAuthenticated =
      apiKey === key || (expiresAt !== undefined && Date.now() < expiresAt && apiKey === undefined)
    if (!isAuthenticated) {
      return json(
        res,
        401,
        { type: 'about:blank', title: 'Unauthorized', status: 401, code: 'key_invalid' },
        { 'www-authenticate': 'Bearer realm="keyward"' },
      )
    }
    return json(res, req.method === 'POST' ? 201 : 200, {
      ok: true,
      method: req.method,
      body: req.body,
    })
  })

  return {
    key,
    keyId,
    tokenLifetimeS,
    issuer: {
      tokenUrl: `${issuerServer.url}/oauth/token`,
      get tokenRequests() {
        return issuerServer.seen.filter((r) => r.url === '/oauth/token')
      },
      issued,
      revokeTokens: () => tokens.clear(),
      seen: issuerServer.seen,
      queue: issuerServer.queue,
    },
    api: { baseUrl: apiServer.url, seen: apiServer.seen, queue: apiServer.queue },
    urlsSeen: () => [...issuerServer.seen, ...apiServer.seen].map((r) => r.url),
    close: async () => {
      await Promise.all([issuerServer.close(), apiServer.close()])
    },
  }
}

/**
 * Collects what a test's client exposed (onRetry events, errors) and checks, after each test,
 * that no secret appears in them nor in any URL the servers saw.
 */
/**
 * A client factory for tests: `defaults` plus each call's options, every retry recorded in
 * `events` (which the leak check reads).
 */
export function recordingClient(
  events: RetryEvent[],
  defaults: ClientOptions,
): (options?: Partial<ClientOptions>) => KeywardClient {
  return (options = {}) =>
    createClient({ onRetry: (event) => events.push(event), ...defaults, ...options })
}

/** What the leak check reads of a target: every URL seen, and the logs it clears. */
type Watched = Pick<Target, 'key' | 'urlsSeen'> & {
  api: { seen: SeenRequest[] }
  issuer?: { seen: SeenRequest[] }
}

export function watchForLeaks(target: Watched, secrets: () => string[] = () => [target.key]) {
  const events: RetryEvent[] = []
  const errors: unknown[] = []
  return {
    events,
    /** The call's rejection, kept for the check. */
    async rejection<E = Error>(promise: Promise<unknown>): Promise<E> {
      const error = await promise.then(
        () => {
          throw new Error('the call should have failed')
        },
        (e: unknown) => e,
      )
      errors.push(error)
      return error as E
    },
    /** Throws if a secret leaked; then forgets the test's events, errors and requests. */
    checkAndReset(): void {
      const exposed = [
        ...target.urlsSeen().map((url) => `URL ${url}`),
        `onRetry ${JSON.stringify(events)}`,
        ...errors.map((e) => `error ${String(e)} ${JSON.stringify(e)}`),
      ]
      for (const secret of secrets()) {
        const leak = exposed.find((text) => text.includes(secret))
        if (leak !== undefined) throw new Error(`a secret leaked into an ${leak.split(' ')[0]}`)
      }
      target.api.seen.length = 0
      if (target.issuer) target.issuer.seen.length = 0
      events.length = 0
      errors.length = 0
    },
  }
}

/** A real `keyward serve` and an upstream behind keyward's middleware (`startKeywardTarget`). */
export interface KeywardTarget {
  /** A key with the scopes orders:read and orders:write. */
  key: string
  keyId: string
  /** A key limited to 1 request a second by the upstream's keyward. */
  limitedKey: string
  /** keyward serve's `/oauth/token`. */
  tokenUrl: string
  /** `--token-lifetime` of keyward serve, seconds. */
  tokenLifetimeS: number
  /** The upstream: every request it received, and scripted answers after authentication. */
  api: Api
  /** Token requests keyward serve answered with 200, from its own /metrics. */
  tokensIssued(): Promise<number>
  /** Every distinct bearer token the upstream received. */
  tokensSeen(): string[]
  urlsSeen(): string[]
  close(): Promise<void>
}

/**
 * Starts the built `keyward serve` on a temporary SQLite file (token lifetime
 * `tokenLifetimeS`, the upstream registered as a token audience) and an upstream that accepts
 * keys from that file and keyward serve's tokens (`acceptTokens`, its JWKS fetched by URL),
 * answering `{ ok, method, body, keyId }` after authentication like `startTarget`'s API.
 * `clock` is the upstream's token clock (tests that fake Date keep it real).
 */
export async function startKeywardTarget(
  options: { tokenLifetimeS?: number; clock?: { now(): number } } = {},
): Promise<KeywardTarget> {
  requireBuild()
  const dir = tempDir()
  const file = join(dir, 'keyward.db')
  const tokenLifetimeS = options.tokenLifetimeS ?? 60
  const store = openSqliteStore(file)
  await store.migrate()
  const keyward = await createKeyward({
    store,
    peppers: [{ version: 1, secret: SERVE_PEPPER }],
    limits: { limiter: createMemoryLimiter() },
  })
  const caller = await keyward.createKey({
    name: 'caller',
    scopes: ['orders:read', 'orders:write'],
  })
  const limited = await keyward.createKey({
    name: 'limited',
    scopes: ['orders:read'],
    rateLimits: [{ name: 'default', limit: 1, windowMs: 1000 }],
  })
  // the middleware needs keyward serve's URL, known once it listens: set below
  let guard: ReturnType<typeof requireApiKey> | null = null
  const bearers = new Set<string>()
  const upstream = await listen(
    (req, res) => {
      const keyId = req.keyId ?? null
      json(res, req.method === 'POST' ? 201 : 200, {
        ok: true,
        method: req.method,
        body: req.body,
        keyId,
      })
    },
    async (req, res, seen) => {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
      if (bearer !== undefined) bearers.add(bearer)
      const admitted = await guard!(req, res)
      if (admitted && req.apiKey) seen.keyId = req.apiKey.id
      return admitted
    },
  )
  const serve = spawnServe(
    ['--port', '0', '--token-lifetime', `${tokenLifetimeS}s`, '--token-audience', upstream.url],
    { cwd: dir, env: { KEYWARD_DATABASE_URL: `sqlite:${file}`, KEYWARD_LOG_LEVEL: 'warn' } },
  )
  let serveUrl: string
  try {
    serveUrl = await serve.listening()
  } catch (error) {
    await upstream.close()
    throw error
  }
  guard = requireApiKey({
    keyward: acceptTokens({
      keyward,
      jwksUrl: `${serveUrl}/.well-known/jwks.json`,
      issuer: serveUrl,
      audience: upstream.url,
      ...(options.clock ? { clock: options.clock } : {}),
    }),
  })
  return {
    key: caller.key,
    keyId: caller.record.id,
    limitedKey: limited.key,
    tokenUrl: `${serveUrl}/oauth/token`,
    tokenLifetimeS,
    api: { baseUrl: upstream.url, seen: upstream.seen, queue: upstream.queue },
    async tokensIssued() {
      const metrics = await (await fetch(`${serveUrl}/metrics`)).text()
      const line = metrics
        .split('\n')
        .find((l) => l.includes('route="/oauth/token"') && l.includes('status_class="2xx"'))
      return line === undefined ? 0 : Number(line.split(' ').at(-1))
    },
    tokensSeen: () => [...bearers],
    urlsSeen: () => [
      ...upstream.seen.map((r) => r.url),
      ...serve.logs().map((l) => String(l.url ?? '')),
    ],
    async close() {
      await stopServe(serve)
      await upstream.close()
      await keyward.close()
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
