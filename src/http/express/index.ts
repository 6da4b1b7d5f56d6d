import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { VerifiedKey } from '../../core/keyward.js'
import { createAuthenticator } from '../authenticate.js'
import { NodeRequestView, setHeaders, writeDenied } from '../node-view.js'
import type { ApiKeyOptions } from '../options.js'

export * from '../public.js'

declare global {
  namespace Express {
    interface Request {
      /** The verified key, set by keyward's `requireApiKey()`. */
      apiKey?: VerifiedKey
    }
  }
}

/**
 * The route pattern for usage analytics when Express has matched a route already: the
 * middleware sits on the route (`app.get('/orders/:id', requireApiKey(…), …)`). Mounted with
 * `app.use`, no route is matched yet: pass the `usageTag` option instead.
 */
function routeTagOf(req: Request): string | undefined {
  const path = (req.route as { path?: unknown } | undefined)?.path
  return typeof path === 'string' ? path : undefined
}

/**
 * Express middleware that lets a request through only with a valid API key carrying
 * `scopes`; otherwise it answers 400/401/403/429/503 with a problem+json body.
 *
 * @example
 * app.get('/orders', requireApiKey({ keyward, scopes: ['orders:read'] }), (req, res) => {
 *   res.json({ keyId: req.apiKey!.id })
 * })
 * @throws KeywardError `invalid_options` naming a bad option
 */
export function requireApiKey(options: ApiKeyOptions<Request>): RequestHandler {
  const auth = createAuthenticator(options)
  const scopes = auth.options.scopes
  return function keywardRequireApiKey(req: Request, res: Response, next: NextFunction): void {
    auth.run(
      new NodeRequestView(req),
      req,
      scopes,
      (result) => {
        if (!result.ok) return writeDenied(res, result.response)
        if (result.headers !== undefined) setHeaders(res, result.headers)
        if (result.key !== null) req.apiKey = result.key
        next()
      },
      next,
      routeTagOf(req),
    )
  }
}
