// A running keyward service for tests: createService on a real store, listening on a free
// port, with an admin and a verify-only key, and a client that remembers every secret it saw
// and every answer it got, so that a test can check that no error ever carried a secret.
import type { FastifyInstance } from 'fastify'
import { KeywardError } from '../../src/core/errors.js'
import { createKeyward, type Keyward, type KeywardOptions } from '../../src/core/keyward.js'
import { createService, SERVICE_IMPLIED_SCOPES, type ServiceOptions } from '../../src/server/app.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import type { Store } from '../../src/stores/types.js'
import { createTokenSigner, type TokenSigner } from '../../src/tokens/signer.js'
import { type RawResponse, rawSend } from '../http/apps.js'

export const TEST_PEPPERS = [{ version: 1, secret: 'service-test-pepper-0123456789abcdefghij' }]

export interface Answer {
  status: number
  headers: Headers
  /** Parsed JSON, or the text when the body is not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read the JSON they expect and assert it
  body: any
  text: string
}

export interface CallOptions {
  /** The API key to send in X-API-Key; `null` sends none. Default: the admin key. */
  key?: string | null
  /** Sent as JSON unless it is a string. */
  body?: unknown
  headers?: Record<string, string>
}

export interface TestService {
  app: FastifyInstance
  keyward: Keyward
  store: Store
  url: string
  port: number
  /** Holds `admin`. */
  adminKey: string
  adminId: string
  /** Holds `keys:verify` only. */
  verifyKey: string
  /** Every secret the tests created or were shown. */
  secrets: Set<string>
  /** Every answer, for the "no secret in any error" check. */
  answers: { method: string; path: string; status: number; text: string }[]
  call(method: string, path: string, options?: CallOptions): Promise<Answer>
  /**
   * One request over a raw socket, exactly as written: `target` is `METHOD PATH HTTP/1.1`.
   * Host and `Connection: close` come first; Content-Length is added for a body unless `lines`
   * frame it themselves.
   */
  raw(target: string, lines?: readonly string[], body?: string): Promise<RawResponse>
  /** Creates a key through the library; its secret is remembered. */
  createKey(input: Parameters<Keyward['createKey']>[0]): Promise<{ key: string; id: string }>
  /** Fails when an error answer (or any verify answer) contains one of `secrets`. */
  expectNoSecretLeaked(): void
  close(): Promise<void>
}

export interface StartOptions {
  store?: Store
  keyward?: Partial<Omit<KeywardOptions, 'store' | 'peppers' | 'impliedScopes'>>
  service?: Partial<Omit<ServiceOptions, 'keyward'>>
  /** Close the store on close(). Default true. */
  closeStore?: boolean
}

/** The middle of a secret: a partial echo of it is a leak too. */
function middle(secret: string): string {
  return secret.length > 24 ? secret.slice(10, -10) : secret
}

/**
 * Starts the service on `127.0.0.1:0`.
 *
 * @example
 * const svc = await startService()
 * const res = await svc.call('GET', '/v1/keys')
 */
export async function startService(options: StartOptions = {}): Promise<TestService> {
  const store = options.store ?? createMemoryStore()
  await store.migrate()
  const keyward = await createKeyward({
    store,
    peppers: TEST_PEPPERS,
    impliedScopes: SERVICE_IMPLIED_SCOPES,
    ...options.keyward,
  })
  const app = await createService({ keyward, ...options.service })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const url = `http://127.0.0.1:${port}`
  const secrets = new Set<string>()
  const answers: TestService['answers'] = []

  async function createKey(input: Parameters<Keyward['createKey']>[0]) {
    const { key, record } = await keyward.createKey(input)
    secrets.add(key)
    return { key, id: record.id }
  }
  const admin = await createKey({ name: 'test admin', scopes: ['admin'] })
  const verifier = await createKey({ name: 'test verifier', scopes: ['keys:verify'] })

  async function call(method: string, path: string, o: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...o.headers }
    const key = o.key === undefined ? admin.key : o.key
    if (key !== null) headers['x-api-key'] = key
    let body: string | undefined
    if (o.body !== undefined) {
      body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body)
      headers['content-type'] ??= 'application/json'
    }
    const res = await fetch(url + path, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    answers.push({ method, path, status: res.status, text })
    // secrets shown by create and rotate are remembered, so that no later error may show them
    const shown = (parsed as { key?: unknown } | null)?.key
    if (res.ok && typeof shown === 'string' && path.startsWith('/v1/keys')) secrets.add(shown)
    return { status: res.status, headers: res.headers, body: parsed, text }
  }

  async function raw(target: string, lines: readonly string[] = [], body = '') {
    const head = [target, 'Host: 127.0.0.1', 'Connection: close', ...lines]
    const framed = lines.some((l) => /^(content-length|transfer-encoding):/i.test(l))
    if (body !== '' && !framed) head.push(`Content-Length: ${Buffer.byteLength(body)}`)
    const res = await rawSend(port, `${head.join('\r\n')}\r\n\r\n${body}`)
    answers.push({ method: 'RAW', path: target, status: res.status, text: res.body })
    return res
  }

  return {
    app,
    keyward,
    store,
    url,
    port,
    adminKey: admin.key,
    adminId: admin.id,
    verifyKey: verifier.key,
    secrets,
    answers,
    call,
    raw,
    createKey,
    expectNoSecretLeaked() {
      const checked = answers.filter((a) => a.status >= 400 || a.path.includes('/verify'))
      for (const a of checked) {
        for (const secret of secrets) {
          if (a.text.includes(middle(secret)))
            throw new Error(`${a.method} ${a.path} (${a.status}) answered with a secret: ${a.text}`)
        }
      }
    },
    async close() {
      await app.close()
      // usage still buffered cannot be written to a store a test closed
      await keyward.close().catch((error: unknown) => {
        if (!(error instanceof KeywardError && error.code === 'store_unavailable')) throw error
      })
      if (options.closeStore ?? true) await store.close()
    },
  }
}

/**
 * `startService` with a token signer on the same store, its issuer the service's own URL, as
 * `keyward serve` has: `/.well-known/jwks.json`, `/oauth/token`, tokens on every route. The
 * signer is closed with the service.
 */
export async function startSigningService(
  options: StartOptions = {},
): Promise<TestService & { signer: TokenSigner }> {
  const store = options.store ?? createMemoryStore()
  let url = ''
  const signer = await createTokenSigner({
    store,
    secrets: { peppers: TEST_PEPPERS },
    issuer: () => url,
  })
  const svc = await startService({ ...options, store, service: { signer, ...options.service } })
  url = svc.url
  const close = svc.close
  return Object.assign(svc, {
    signer,
    async close() {
      await close()
      signer.close()
    },
  })
}

/**
 * The routes the app registered, from Fastify's own route tree: `[method, path]` pairs, HEAD
 * included. Tests iterate over them so that a route added later cannot be forgotten.
 */
export function registeredRoutes(app: FastifyInstance): [string, string][] {
  const out: [string, string][] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    stack.length = depth
    const parent = stack[depth - 1] ?? ''
    const segment = m[2]!
    const path =
      parent === '' || segment.startsWith('/') ? parent + segment : `${parent}/${segment}`
    stack.push(path.replace(/\/\//g, '/'))
    if (m[3] === undefined) continue
    for (const method of m[3].split(', ')) out.push([method, stack[depth]!])
  }
  return out
}
