// The service's request log: one JSON line per request, credentials redacted by the project's
// own redaction (src/http/redact.ts). Bodies are never logged: the verify API's body carries
// the key itself, and any admin body may too.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { redactHeaders, redactUrl } from '../http/redact.js'

// pino's numeric levels; Fastify's logger type exposes the level's name only
const LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
}

/**
 * Logs, at trace level, that a request's headers arrived (its body may still be on the way):
 * with the finished line, this shows what was in flight. A Fastify `onRequest` hook.
 */
export function logRequestStart(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: () => void,
): void {
  request.log.trace({ method: request.method, url: redactUrl(request.url) }, 'request received')
  done()
}

/**
 * Logs a finished request: method, path (query credentials redacted), status, time and the
 * key id when the request was authenticated; the headers too, redacted, at debug level.
 * A Fastify `onResponse` hook.
 */
export function logRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const log = request.log
  const level = LEVELS[log.level] ?? Number.POSITIVE_INFINITY
  if (level <= LEVELS.info!) {
    const line: Record<string, unknown> = {
      method: request.method,
      url: redactUrl(request.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      ip: request.ip,
    }
    const keyId = request.apiKey?.id
    if (keyId !== undefined) line.keyId = keyId
    if (level <= LEVELS.debug!) line.headers = redactHeaders(request.headers)
    log.info(line, 'request')
  }
  done()
}
