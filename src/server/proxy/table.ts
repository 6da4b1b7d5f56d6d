// Which route rule and upstream a request reaches, decided once per request on the path in
// normal form (path.ts). The Fastify side (routes.ts) registers one route per outcome, so
// that authentication runs with the matched rule's scopes through the service's one adapter.
import type { ProxyConfig, ProxyRule, ProxyUpstream } from './config.js'
import { matchPattern, normalizePath } from './path.js'

/** What a request reaches. `route` names the Fastify route that serves it. */
export type ProxyMatch =
  | {
      readonly kind: 'forward'
      readonly route: string
      /** null when there are no rules (any valid key, any path). */
      readonly rule: ProxyRule | null
      readonly upstream: ProxyUpstream
      /** The path in normal form: what was matched and what is forwarded. */
      readonly path: string
      /** `?…` as the client sent it, or ''. */
      readonly query: string
    }
  /** Rules are configured and none covers the method and path: 403 once authenticated. */
  | { readonly kind: 'uncovered'; readonly route: string; readonly path: string }
  /** No upstream prefix covers the path: 404 once authenticated. */
  | { readonly kind: 'no_upstream'; readonly route: string }
  /** A path of the service's own API, with another method or not in normal form. */
  | {
      readonly kind: 'own'
      readonly route: string
      readonly path: string
      readonly changed: boolean
    }
  /** A path that has no normal form: 400, before authentication. */
  | { readonly kind: 'bad'; readonly route: string; readonly reason: string }

/** Route names (constraint values), fixed so that nothing is built per request. */
export const ROUTE_UNCOVERED = 'uncovered'
export const ROUTE_NO_UPSTREAM = 'no-upstream'
export const ROUTE_OWN = 'own'
export const ROUTE_BAD = 'bad'
export const ROUTE_ANY = 'any'

export interface ProxyTable {
  /** Every route name a match can name, with the rule it forwards by (null: none, or any). */
  readonly routes: readonly {
    readonly name: string
    readonly rule: ProxyRule | null
    readonly forwards: boolean
  }[]
  match(method: string, url: string): ProxyMatch
}

function covers(upstream: ProxyUpstream, path: string): boolean {
  const p = upstream.prefix
  if (p === '/') return true
  return path.startsWith(p) && (path.length === p.length || path.charCodeAt(p.length) === 0x2f)
}

/**
 * @param isOwn whether the service itself serves a path: its own paths are never forwarded, in
 * whatever form they are written
 */
export function createProxyTable(
  config: ProxyConfig,
  isOwn: (path: string) => boolean,
): ProxyTable {
  const rules = config.rules
  const ruleRoutes =
    rules === null ? [] : rules.map((rule, i) => ({ name: `rule-${i}`, rule, forwards: true }))
  const routes = [
    ...(rules === null ? [{ name: ROUTE_ANY, rule: null, forwards: true }] : ruleRoutes),
    { name: ROUTE_UNCOVERED, rule: null, forwards: false },
    { name: ROUTE_NO_UPSTREAM, rule: null, forwards: false },
    { name: ROUTE_OWN, rule: null, forwards: false },
    { name: ROUTE_BAD, rule: null, forwards: false },
  ]
  const upstreams = config.upstreams

  function match(method: string, url: string): ProxyMatch {
    const q = url.indexOf('?')
    const rawPath = q < 0 ? url : url.slice(0, q)
    const normal = normalizePath(rawPath)
    if (!normal.ok) return { kind: 'bad', route: ROUTE_BAD, reason: normal.reason }
    const path = normal.path
    if (isOwn(path)) return { kind: 'own', route: ROUTE_OWN, path, changed: path !== rawPath }
    let upstream: ProxyUpstream | undefined
    for (const u of upstreams) {
      if (covers(u, path)) {
        upstream = u
        break
      }
    }
    if (upstream === undefined) return { kind: 'no_upstream', route: ROUTE_NO_UPSTREAM }
    const query = q < 0 ? '' : url.slice(q)
    if (rules === null)
      return { kind: 'forward', route: ROUTE_ANY, rule: null, upstream, path, query }
    const segments = path.slice(1).split('/')
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!
      if (
        (rule.methods === null || rule.methods.has(method)) &&
        matchPattern(rule.pattern, segments)
      )
        return { kind: 'forward', route: ruleRoutes[i]!.name, rule, upstream, path, query }
    }
    return { kind: 'uncovered', route: ROUTE_UNCOVERED, path }
  }

  return { routes, match }
}
