// Every error the service answers is application/problem+json (RFC 9457), built here: the
// denials of authentication come from src/http/responses.ts, everything else from this table.
import type { FastifyError, FastifyReply } from 'fastify'
import { KeywardError } from '../core/errors.js'
import { hideKeys } from '../core/key-format.js'
import { STORE_RETRY_AFTER_SECONDS } from '../core/retry.js'
import { PROBLEM_TYPE_PREFIX } from '../http/responses.js'

/** Stable codes of the service's own errors (authentication has its own, see DESIGN.md). */
export type ServiceProblemCode =
  | 'invalid_request'
  | 'invalid_json'
  | 'not_found'
  | 'method_not_allowed'
  | 'csrf_rejected'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'headers_too_large'
  | 'conflict'
  | 'store_unavailable'
  | 'service_unavailable'
  | 'request_timeout'
  | 'internal_error'
  | 'route_not_allowed'
  | 'upstream_failed'
  | 'upstream_timeout'
  | 'websocket_not_supported'

interface ProblemSpec {
  readonly status: number
  readonly title: string
}

const SPECS: Readonly<Record<ServiceProblemCode, ProblemSpec>> = {
  invalid_request: { status: 400, title: 'Invalid request' },
  invalid_json: { status: 400, title: 'Malformed JSON body' },
  csrf_rejected: { status: 403, title: 'Cross-site request refused' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  request_timeout: { status: 408, title: 'Request timeout' },
  conflict: { status: 409, title: 'Conflict' },
  body_too_large: { status: 413, title: 'Request body too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  headers_too_large: { status: 431, title: 'Request headers too large' },
  route_not_allowed: { status: 403, title: 'Route not allowed' },
  internal_error: { status: 500, title: 'Internal error' },
  websocket_not_supported: { status: 501, title: 'WebSocket not supported' },
  upstream_failed: { status: 502, title: 'Bad gateway' },
  store_unavailable: { status: 503, title: 'Key store unavailable' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  upstream_timeout: { status: 504, title: 'Gateway timeout' },
}

/** A problem ready to send. */
export interface Problem {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Record<string, unknown>
}

/**
 * The problem for a code, with a detail sentence that tells the caller what to do.
 *
 * @example
 * problem('not_found', 'No key with id key_abc: list keys with GET /v1/keys.')
 */
export function problem(
  code: ServiceProblemCode,
  detail: string,
  extra: Record<string, unknown> = {},
): Problem {
  const spec = SPECS[code]
  // details quote bad values, and a key sent in the wrong field must not come back
  const safe = hideKeys(detail)
  const headers: Record<string, string> = { 'cache-control': 'no-store' }
  if (spec.status === 503) headers['retry-after'] = String(STORE_RETRY_AFTER_SECONDS)
  return {
    status: spec.status,
    headers,
    body: {
      type: PROBLEM_TYPE_PREFIX + code,
      title: spec.title,
      status: spec.status,
      detail: safe,
      code,
      ...extra,
    },
  }
}

/** Sends a problem on a Fastify reply. */
export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply
    .code(p.status)
    .headers(p.headers)
    .type('application/problem+json')
    // a Buffer keeps the content type exactly as set (fastify appends a charset to strings),
    // the same as the authentication denials
    .send(Buffer.from(JSON.stringify(p.body)))
}

/** The problem as raw HTTP/1.1 bytes, for sockets Fastify never saw (parser errors). */
export function rawProblem(p: Problem): string {
  const body = JSON.stringify(p.body)
  const lines = [
    `HTTP/1.1 ${p.status} ${SPECS[p.body.code as ServiceProblemCode].title}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(p.headers).map(([k, v]) => `${k}: ${v}`),
  ]
  return `${lines.join('\r\n')}\r\n\r\n${body}`
}

/** Validation messages of Fastify/Ajv, made readable: `body/name must be string`. */
function validationDetail(error: FastifyError): string {
  const first = error.validation?.[0]
  if (first === undefined) return error.message
  const where = `${error.validationContext ?? 'request'}${first.instancePath || ''}`
  const params = first.params as Record<string, unknown>
  if (first.keyword === 'additionalProperties')
    return `${where} has an unknown field "${String(params.additionalProperty)}": remove it (see GET /openapi.json for the fields allowed)`
  if (first.keyword === 'required')
    return `${where} is missing the required field "${String(params.missingProperty)}"`
  return `${where} ${first.message ?? 'is not valid'}`
}

/**
 * The problem for an error thrown by a route, a hook or Fastify itself. Unknown errors are
 * 500 without details (logged by the caller); nothing here echoes request data beyond field
 * names.
 */
export function problemFor(error: unknown): Problem {
  if (error instanceof KeywardError) {
    switch (error.code) {
      case 'invalid_argument':
      case 'invalid_options':
        return problem('invalid_request', error.message)
      case 'not_found':
        return problem('not_found', error.message)
      case 'store_conflict':
        return problem('conflict', error.message)
      case 'store_unavailable':
        return problem(
          'store_unavailable',
          'The key store is unreachable; nothing was changed. Retry after the number of seconds in the Retry-After header.',
        )
      default:
        return problem('internal_error', 'The service failed; the error is logged.')
    }
  }
  const e = error as FastifyError
  if (e?.validation !== undefined) return problem('invalid_request', validationDetail(e))
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem(
        'body_too_large',
        'The request body is larger than this service accepts: send a smaller body.',
      )
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(
        'unsupported_media_type',
        'Send the body as JSON with "Content-Type: application/json".',
      )
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problem(
        'invalid_json',
        'The body is empty but Content-Type says JSON: send a JSON body or no Content-Type.',
      )
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return problem('invalid_json', 'The body is not valid JSON: check its syntax.')
  }
  return problem('internal_error', 'The service failed; the error is logged.')
}
