// What every adapter entry point (keyward/node, /express, /fastify, /hono) exports besides its
// own middleware: the option and result types and the log redaction helpers.
export type { AuthResult } from './authenticate.js'
export type {
  ApiKeyOptions,
  CredentialSource,
  DeniedEvent,
  FailedAuthOptions,
  ProblemDetails,
} from './options.js'
export {
  createRequestRedactor,
  keywardRedactPaths,
  keywardSerializers,
  REDACTED,
  redactHeaders,
  redactRequest,
  type RequestRedactor,
  type RequestRedactorOptions,
  redactUrl,
} from './redact.js'
