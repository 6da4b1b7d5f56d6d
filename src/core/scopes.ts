import { KeywardError } from './errors.js'

const SEGMENT = '(?:\\*|[a-z0-9][a-z0-9_.-]{0,63})'
const SCOPE_RE = new RegExp(`^${SEGMENT}(?::${SEGMENT}){0,7}$`)
const ROLE_RE = /^[a-z][a-z0-9_.-]{0,63}$/

/** True when `scope` is `segment(:segment)*` with lowercase segments or `*` (`orders:read`, `orders:*`, `*`). */
export function isValidScope(scope: string): boolean {
  return SCOPE_RE.test(scope)
}

/**
 * @throws KeywardError `invalid_argument` naming the bad scope and the expected form
 */
export function assertValidScope(scope: string): void {
  if (!isValidScope(scope)) {
    throw new KeywardError(
      'invalid_argument',
      `scope ${JSON.stringify(scope)} is not valid: use resource:action with lowercase letters, digits, "_", "." or "-" in each part, or "*" for a whole part (e.g. "orders:read", "orders:*")`,
    )
  }
}

/** True when `name` is a valid role name (`reader`, `billing-admin`). */
export function isValidRole(name: string): boolean {
  return ROLE_RE.test(name)
}

/**
 * @throws KeywardError `invalid_argument`
 */
export function assertValidRole(name: string): void {
  if (!isValidRole(name)) {
    throw new KeywardError(
      'invalid_argument',
      `role ${JSON.stringify(name)} is not valid: use lowercase letters, digits, "_", "." or "-", starting with a letter`,
    )
  }
}

/**
 * True when the granted scope covers the required one: `*` covers everything; otherwise both
 * have the same number of segments and each granted segment is `*` or equal.
 *
 * @example
 * matchScope('orders:*', 'orders:read') // true
 * matchScope('orders:read', 'orders:write') // false
 */
export function matchScope(granted: string, required: string): boolean {
  if (granted === '*' || granted === required) return true
  const g = granted.split(':')
  const r = required.split(':')
  if (g.length !== r.length) return false
  for (let i = 0; i < g.length; i++) if (g[i] !== '*' && g[i] !== r[i]) return false
  return true
}

/** A precompiled check of required scopes against one key's granted scopes. */
export interface ScopeSet {
  readonly scopes: readonly string[]
  /** The required scopes this set does not cover; empty when all are covered. */
  missing(required: readonly string[]): readonly string[]
  has(required: string): boolean
}

const NONE: readonly string[] = Object.freeze([])

/** Compiles granted scopes into a set; large sets answer exact matches with one hash lookup. */
export function compileScopes(scopes: readonly string[]): ScopeSet {
  return new CompiledScopes(scopes)
}

// A class rather than closures: one is built per cold lookup, so building must be cheap.
class CompiledScopes implements ScopeSet {
  private readonly all: boolean
  private readonly wildcards: readonly string[] | null
  /** Most keys hold a handful of scopes: a linear scan beats a Set for them. */
  private readonly exact: ReadonlySet<string> | null

  constructor(readonly scopes: readonly string[]) {
    this.all = scopes.includes('*')
    const wildcards = scopes.filter((s) => s.includes('*'))
    this.wildcards = wildcards.length > 0 ? wildcards : null
    this.exact = scopes.length > 8 ? new Set(scopes) : null
  }

  has(required: string): boolean {
    if (this.all) return true
    if (this.exact === null ? this.scopes.includes(required) : this.exact.has(required)) return true
    const wildcards = this.wildcards
    if (wildcards === null) return false
    for (let i = 0; i < wildcards.length; i++) if (matchScope(wildcards[i]!, required)) return true
    return false
  }

  missing(required: readonly string[]): readonly string[] {
    let out: string[] | null = null
    for (let i = 0; i < required.length; i++) {
      const r = required[i]!
      if (this.has(r)) continue
      if (out === null) out = []
      out.push(r)
    }
    return out ?? NONE
  }
}

/** Granted scopes plus those of each role, deduplicated, in a stable order. */
export function expandRoles(
  scopes: readonly string[],
  roles: readonly string[],
  definitions: ReadonlyMap<string, readonly string[]>,
): string[] {
  const out = new Set(scopes)
  for (const role of roles) for (const s of definitions.get(role) ?? []) out.add(s)
  return [...out]
}

/**
 * Scopes that grant others, e.g. `{ admin: ['keys:read', 'keys:write'] }`: a key holding
 * `admin` is treated as holding those too. Checked and frozen once.
 *
 * @throws KeywardError `invalid_argument` naming a bad scope
 */
export function compileImpliedScopes(
  implied: Readonly<Record<string, readonly string[]>>,
): ReadonlyMap<string, readonly string[]> {
  const out = new Map<string, readonly string[]>()
  for (const [scope, grants] of Object.entries(implied)) {
    assertValidScope(scope)
    if (!Array.isArray(grants)) {
      throw new KeywardError(
        'invalid_argument',
        `the scopes implied by ${JSON.stringify(scope)} must be a list, e.g. ["keys:read"]`,
      )
    }
    for (const g of grants) assertValidScope(g)
    out.set(scope, Object.freeze([...grants]))
  }
  return out
}

/** Granted scopes plus those they imply, deduplicated, in a stable order. */
export function expandImplied(
  scopes: readonly string[],
  implied: ReadonlyMap<string, readonly string[]>,
): readonly string[] {
  let out: Set<string> | null = null
  for (const s of scopes) {
    const more = implied.get(s)
    if (more === undefined) continue
    out ??= new Set(scopes)
    for (const m of more) out.add(m)
  }
  return out === null ? scopes : [...out]
}
