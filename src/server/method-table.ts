// The service's own routes by path pattern: which methods a path has (405 with `Allow` instead
// of 404), and whether the service serves a path at all (the proxy never forwards those).
/** `/v1/keys/:id` → `v1`. */
function firstSegment(path: string): string {
  const end = path.indexOf('/', 1)
  return end < 0 ? path.slice(1) : path.slice(1, end)
}

/** Methods of routes by path pattern, to answer 405 with `Allow` instead of 404. */
export class MethodTable {
  private readonly routes: { pattern: string; re: RegExp; methods: Set<string> }[] = []
  private all: RegExp | null = null
  /** The routes' first path segments; null once a route starts with a parameter (any segment). */
  private firstSegments: Set<string> | null = new Set()

  add(url: string, methods: readonly string[]): void {
    this.all = null
    const first = firstSegment(url)
    if (first.startsWith(':')) this.firstSegments = null
    else this.firstSegments?.add(first)
    const source = url
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
    // the same pattern again (another method of a path) joins its entry
    const pattern = `^${source}$`
    const existing = this.routes.find((r) => r.pattern === pattern)
    if (existing) for (const m of methods) existing.methods.add(m)
    else this.routes.push({ pattern, re: new RegExp(pattern), methods: new Set(methods) })
  }

  /**
   * Whether any route serves `path`: one regular expression, rebuilt after a route is added, and
   * first a set lookup, which answers most paths the proxy forwards (asked on every request).
   */
  serves(path: string): boolean {
    if (this.firstSegments !== null && !this.firstSegments.has(firstSegment(path))) return false
    this.all ??= new RegExp(this.routes.map((r) => `(?:${r.pattern})`).join('|'))
    return this.all.test(path)
  }

  allowed(path: string): string[] {
    const out = new Set<string>()
    for (const r of this.routes) if (r.re.test(path)) for (const m of r.methods) out.add(m)
    return [...out]
  }
}
