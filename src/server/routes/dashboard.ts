// The dashboard's static files (built from dashboard/ into dist/dashboard), read once at start
// and served from memory with a strict Content-Security-Policy. They hold no secret: these
// routes are open; everything the dashboard shows comes from the admin API.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { problem, sendProblem } from '../problems.js'

/** dist/dashboard: three folders up from src/server/routes and from dist/server/routes alike. */
export const DEFAULT_DASHBOARD_DIR = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'dist',
  'dashboard',
)

/**
 * No inline script or style, nothing from another origin, no framing, no form posts elsewhere.
 * `style-src` allows only the built stylesheet; the charts set sizes through the CSSOM, which a
 * CSP does not govern.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': DASHBOARD_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
})

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

interface Asset {
  body: Buffer
  type: string
  etag: string
  /** Vite names built assets by content hash: they never change under the same name. */
  immutable: boolean
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name)
      if (statSync(path).isDirectory()) {
        walk(path)
        continue
      }
      const type = TYPES[extname(name)]
      if (type === undefined) continue
      const body = readFileSync(path)
      const url = relative(dir, path).split(sep).join('/')
      assets.set(url, {
        body,
        type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        immutable: url.startsWith('assets/'),
      })
    }
  }
  walk(dir)
  return assets
}

export const dashboardRoutes: FastifyPluginAsync<{ dir: string }> = async (app, { dir }) => {
  const assets = existsSync(join(dir, 'index.html')) ? loadAssets(dir) : null

  // every answer under /dashboard, errors included, carries the headers
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS)
    done(null, payload)
  })

  function send(reply: FastifyReply, asset: Asset, ifNoneMatch: string | undefined) {
    reply
      .header('content-type', asset.type)
      .header('etag', asset.etag)
      .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    if (ifNoneMatch === asset.etag) return reply.code(304).send()
    return reply.send(asset.body)
  }

  const open = { config: { keyward: false as const }, schema: { hide: true } }

  app.get('/dashboard', open, (_request, reply) => {
    // relative links resolve against /dashboard/
    reply.redirect('/dashboard/', 308)
  })

  app.get<{ Params: { '*': string } }>('/dashboard/*', open, (request, reply) => {
    if (assets === null)
      return sendProblem(
        reply,
        problem(
          'service_unavailable',
          'The dashboard is not built: run "npm run build" in the keyward folder (an installed package ships it built).',
        ),
      )
    const path = request.params['*']
    const asset = assets.get(path)
    if (asset !== undefined) return send(reply, asset, request.headers['if-none-match'])
    // a file that is not there is a 404; any other path is a screen of the app
    if (path.startsWith('assets/') || path.startsWith('api/') || extname(path) !== '')
      return sendProblem(reply, problem('not_found', 'There is no such file in the dashboard.'))
    return send(reply, assets.get('index.html')!, request.headers['if-none-match'])
  })
}
