// POST /oauth/token: OAuth 2.0 client credentials (RFC 6749 §4.4). The API key is the client
// credential; it is checked by the adapters' own pipeline (failed-auth limiter, IP allowlist,
// the key's rate limits and quota), then exchanged for a short-lived access token (RFC 9068).
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Keyward, VerifiedKey } from '../../core/keyward.js'
import { compileScopes, isValidScope } from '../../core/scopes.js'
import { type AuthResult, createAuthenticator } from '../../http/authenticate.js'
import { NodeRequestView } from '../../http/node-view.js'
import type { DeniedEvent, FailedAuthOptions } from '../../http/options.js'
import type { FailedAuthLimiter } from '../../limits/failed-auth.js'
import type { TokenSigner } from '../../tokens/signer.js'
import { type OAuthError, oauthDenial, oauthError, sendOAuthError } from '../oauth-errors.js'

export interface TokenRouteOptions {
  /** Verifies the client's API key (keys only: a token never buys another token). */
  keyward: Keyward
  signer: TokenSigner
  /** Audiences a token may be asked for; the first is given when none is asked. */
  audiences: () => readonly string[]
  /** Seconds; shortened to the key's own expiry. */
  lifetimeSec: number
  /** The service's failed-auth limiter: the same object, so bad secrets count with the rest. */
  failedAuth: FailedAuthOptions | FailedAuthLimiter
  trustedProxies?: readonly string[]
  onDenied?: (event: DeniedEvent) => void
}

/** The request's parameters: each name with every value it was given. */
type Params = ReadonlyMap<string, readonly string[]>

const UNSUPPORTED_BODY = Symbol('unsupported body')
/** The secret each request sent by Basic auth or in its body, for the authenticator to read. */
const secrets = new WeakMap<FastifyRequest, string | null>()
const FORM = 'application/x-www-form-urlencoded'
/** RFC 8707 allows `resource` several times; every other parameter at most once (RFC 6749 §3.2). */
const REPEATABLE = new Set(['resource'])
const MAX_SCOPES = 100
const RATE_LIMIT_HEADERS = ['retry-after', 'ratelimit', 'ratelimit-policy']

class Refused extends Error {
  constructor(readonly oauth: OAuthError) {
    super(oauth.description)
  }
}

const refuse = (...args: Parameters<typeof oauthError>): never => {
  throw new Refused(oauthError(...args))
}

/** The body as parameters: a form, or a JSON object of strings (lists for `resource`). */
function paramsOf(body: unknown): Params {
  if (body === undefined) return new Map()
  if (body === UNSUPPORTED_BODY)
    refuse('invalid_request', `send the parameters as ${FORM} (or a JSON object)`)
  if (body instanceof URLSearchParams) {
    const out = new Map<string, string[]>()
    for (const [name, value] of body) out.set(name, [...(out.get(name) ?? []), value])
    return out
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    refuse('invalid_request', 'a JSON body must be an object of parameters')
  const out = new Map<string, string[]>()
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value]
    if (!values.every((v) => typeof v === 'string'))
      refuse('invalid_request', `the parameter "${name}" must be a string`)
    out.set(name, values as string[])
  }
  return out
}

/** One parameter's value; refuses a repeated one. */
function single(params: Params, name: string): string | undefined {
  const values = params.get(name)
  if (values === undefined) return undefined
  if (values.length > 1 && !REPEATABLE.has(name))
    refuse('invalid_request', `the parameter "${name}" is repeated: send it once`)
  return values[0]
}

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before base64. */
function formDecode(text: string): string | null {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return null
  }
}

/** The client's id and secret from `Authorization: Basic`, or null when there is none. */
function basicCredentials(request: FastifyRequest): { id: string; secret: string } | null {
  const header = request.headers.authorization
  if (header === undefined) return null
  const match = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header)
  if (match === null) {
    if (/^basic(?:[ \t]|$)/i.test(header))
      refuse(
        'invalid_client',
        'the Basic credentials are not valid base64 of client_id:client_secret',
      )
    return null
  }
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const id = colon < 0 ? null : formDecode(decoded.slice(0, colon))
  const secret = colon < 0 ? null : formDecode(decoded.slice(colon + 1))
  if (id === null || secret === null)
    refuse(
      'invalid_client',
      'the Basic credentials must be client_id:client_secret, each form-encoded',
    )
  return { id: id!, secret: secret! }
}

/**
 * Which client credential the request carries, refusing two at once (RFC 6749 §2.3): the
 * secret from Basic or the body (or none: then X-API-Key, read by the authenticator), and the
 * client id it claims.
 */
function clientCredential(request: FastifyRequest, params: Params) {
  const basic = basicCredentials(request)
  const bodySecret = single(params, 'client_secret')
  const bodyId = single(params, 'client_id')
  const hasKeyHeader = request.headers['x-api-key'] !== undefined
  const methods = (basic ? 1 : 0) + (bodySecret !== undefined ? 1 : 0) + (hasKeyHeader ? 1 : 0)
  if (methods > 1)
    refuse(
      'invalid_request',
      'the request carries more than one client credential: use exactly one way (X-API-Key, Basic auth, or the form body)',
    )
  if (basic && bodyId !== undefined && bodyId !== basic.id)
    refuse('invalid_request', 'client_id in the body differs from the one in Basic auth')
  if (bodyId !== undefined && !basic && bodySecret === undefined && !hasKeyHeader)
    refuse('invalid_client', 'client_id without a client_secret: send the API key as client_secret')
  return {
    secret: basic?.secret ?? bodySecret ?? null,
    clientId: basic?.id ?? bodyId ?? null,
  }
}

/** The scopes to grant: those asked for, all of which the key must have; else all it has. */
function grantedScopes(params: Params, key: VerifiedKey): readonly string[] {
  const asked = single(params, 'scope')
  if (asked === undefined) return key.scopes
  const scopes = [...new Set(asked.split(' ').filter((s) => s !== ''))]
  if (scopes.length > MAX_SCOPES) refuse('invalid_scope', `ask for at most ${MAX_SCOPES} scopes`)
  const malformed = scopes.find((s) => !isValidScope(s))
  if (malformed !== undefined)
    refuse(
      'invalid_scope',
      `${JSON.stringify(malformed.slice(0, 100))} is not a scope (resource:action, e.g. orders:read)`,
    )
  const missing = compileScopes(key.scopes).missing(scopes)
  if (missing.length > 0)
    refuse(
      'invalid_scope',
      `the API key does not have ${missing.length === 1 ? 'the scope' : 'the scopes'} ${missing.join(', ')}: ask only for scopes the key has`,
    )
  return scopes
}

/** `audience` and RFC 8707 `resource`: each must be registered; none asked is the first one. */
function audiencesOf(params: Params, registered: readonly string[]): string[] {
  const audience = single(params, 'audience')
  const resources = params.get('resource') ?? []
  for (const r of resources) {
    if (!URL.canParse(r) || r.includes('#'))
      refuse(
        'invalid_target',
        'a resource must be an absolute URI without a fragment (RFC 8707), e.g. https://orders.internal',
      )
  }
  const asked = [...new Set([...(audience === undefined ? [] : [audience]), ...resources])]
  if (asked.length === 0) return [registered[0]!]
  const unknown = asked.find((a) => !registered.includes(a))
  if (unknown !== undefined)
    refuse(
      'invalid_target',
      `${JSON.stringify(unknown.slice(0, 200))} is not an audience this server issues tokens for: ask for one of ${registered.join(', ')}`,
    )
  return asked
}

/** Only what a caller may act on: when to retry, and its limits. */
function retryHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of RATE_LIMIT_HEADERS) if (headers[name] !== undefined) out[name] = headers[name]
  return out
}

/**
 * `POST /oauth/token`. The key's limits and quota are charged once per token request; the
 * failed-auth limiter counts bad secrets; a token lives `lifetimeSec`, or less when the key
 * expires sooner.
 */
export const tokenRoutes: FastifyPluginAsync<TokenRouteOptions> = async (app, options) => {
  const { signer, lifetimeSec } = options
  const auth = createAuthenticator<FastifyRequest>({
    keyward: options.keyward,
    // X-API-Key, or the secret from Basic auth or the body; never a bearer token
    sources: ['x-api-key'],
    getCredential: (request) => secrets.get(request),
    failedAuth: options.failedAuth,
    idempotency: false,
    preflight: 'authenticate',
    ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}),
    ...(options.onDenied ? { onDenied: (event: DeniedEvent) => options.onDenied!(event) } : {}),
  })

  // this plugin's context only: forms (the OAuth encoding), and any other type refused by the
  // handler in OAuth's words
  app.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => {
    done(null, new URLSearchParams(body as string))
  })
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, _body, done) => {
    done(null, UNSUPPORTED_BODY)
  })
  app.setErrorHandler((error, request, reply) => {
    if (error instanceof Refused) return sendOAuthError(reply, error.oauth)
    const code = (error as { code?: string }).code
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendOAuthError(reply, oauthError('invalid_request', 'the body is too large', 413))
    if (typeof code === 'string' && code.startsWith('FST_ERR_CTP_'))
      return sendOAuthError(reply, oauthError('invalid_request', 'the body cannot be parsed'))
    request.log.error({ err: error })
    return sendOAuthError(
      reply,
      oauthError('temporarily_unavailable', 'the server failed; the error is logged', 500),
    )
  })

  app.post(
    '/oauth/token',
    {
      config: { keyward: false },
      bodyLimit: 16 * 1024,
      schema: {
        summary: 'Trade an API key for a short-lived access token (OAuth 2.0 client credentials)',
        description: `Form (${FORM}) or JSON parameters: grant_type=client_credentials, optional scope (space-separated, only scopes the key has), audience or resource (RFC 8707; a registered audience). The key goes in X-API-Key, or as client_secret with its id as client_id (Basic auth or the body). Answers RFC 6749 JSON: { access_token, token_type, expires_in, scope }; errors { error, error_description }.`,
        tags: ['tokens'],
        security: [],
      },
    },
    async (request, reply) => {
      const params = paramsOf(request.body)
      const grant = single(params, 'grant_type')
      if (grant === undefined)
        refuse('invalid_request', 'grant_type is missing: send grant_type=client_credentials')
      if (grant !== 'client_credentials')
        refuse(
          'unsupported_grant_type',
          'only grant_type=client_credentials is supported: the API key is the client credential',
        )
      const { secret, clientId } = clientCredential(request, params)
      secrets.set(request, secret)
      const result = await new Promise<AuthResult>((resolve, reject) =>
        auth.run(new NodeRequestView(request.raw), request, [], resolve, reject),
      )
      if (!result.ok)
        return sendOAuthError(
          reply,
          oauthDenial(result.code),
          retryHeaders(result.response.headers),
        )
      const key = result.key!
      if (clientId !== null && clientId !== key.id)
        refuse('invalid_client', 'client_id is not the id of this API key')
      const scopes = grantedScopes(params, key)
      const audience = audiencesOf(params, options.audiences())
      const untilExpiry =
        key.expiresAt === null ? lifetimeSec : Math.floor((key.expiresAt - Date.now()) / 1000)
      const issued = await signer.issueAccessToken({
        keyId: key.id,
        scopes,
        audience,
        ownerId: key.ownerId,
        lifetimeSec: Math.max(1, Math.min(lifetimeSec, untilExpiry)),
      })
      reply
        .header('cache-control', 'no-store')
        .header('pragma', 'no-cache')
        .headers(result.headers ?? {})
      return {
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        scope: issued.scope,
      }
    },
  )
}
