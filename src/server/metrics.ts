// The service's Prometheus series (GET /metrics, docs in README "Metrics"). Nothing is counted
// through prom-client on the request path: the verifier keeps plain counters
// (`keyward.verifier.stats()`) and the HTTP hooks below bump plain numbers; prom-client reads
// both when Prometheus scrapes (collect callbacks). A prom-client call costs about a
// microsecond (label hashing, objects), a field increment a few nanoseconds.
//
// Labels come from fixed sets (outcome codes, cache results, route patterns, status classes):
// never a key, a hash, a hint, a key id or a raw path.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client'
import { KeywardError } from '../core/errors.js'
import type { Keyward } from '../core/keyward.js'

/** Upper bounds (seconds) of `keyward_verify_duration_seconds`: 100 µs to 5 s. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
])

/** The windows of `keyward_keys_expiring`, by label. */
const EXPIRING_WINDOWS: readonly (readonly [string, number])[] = [
  ['1d', 86_400_000],
  ['7d', 7 * 86_400_000],
  ['30d', 30 * 86_400_000],
]
/** How long key counts for the gauges are reused: a scrape every few seconds costs one query. */
const EXPIRY_REFRESH_MS = 30_000

/** The path of the verify API, whose requests the latency histogram times as `verify_api`. */
const VERIFY_ROUTE = { method: 'POST', url: '/v1/keys/verify' }

/** Observations in fixed buckets: plain numbers, nothing allocated per observation. */
class LatencyRecorder {
  /** Per bucket (not cumulative); the last one is +Inf. */
  readonly counts = new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1)
  sum = 0

  observe(seconds: number): void {
    let i = 0
    while (i < LATENCY_BUCKETS_SECONDS.length && seconds > LATENCY_BUCKETS_SECONDS[i]!) i++
    this.counts[i] = this.counts[i]! + 1
    this.sum += seconds
  }
}

/** Requests of one route and method, by status class (index 1-5 for 1xx-5xx). */
class RequestCounter {
  readonly byClass = new Float64Array(6)
  constructor(
    readonly method: string,
    readonly route: string,
  ) {}

  record(statusCode: number): void {
    const c = (statusCode / 100) | 0
    if (c >= 1 && c <= 5) this.byClass[c] = this.byClass[c]! + 1
  }
}

/** Marks this module's hooks, so a route copied with them (HEAD of a GET) gets its own. */
const OWN_HOOK = Symbol('keyward.metrics')
/** Set on a request when the service's authentication let it through. */
const AUTHENTICATED = Symbol('keyward.metrics.authenticated')
/** `performance.now()` when the request reached Fastify's first hook. */
const STARTED_AT = Symbol('keyward.metrics.startedAt')

type Timed = FastifyRequest & { [AUTHENTICATED]: boolean; [STARTED_AT]: number }
type Hook = ((...args: never[]) => unknown) & { [OWN_HOOK]?: true }

function own<T extends Hook>(hook: T): T {
  return Object.assign(hook, { [OWN_HOOK]: true as const })
}

function withoutOwn(hooks: unknown): Hook[] {
  const list = hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]
  return (list as Hook[]).filter((h) => h[OWN_HOOK] !== true)
}

/**
 * A store failure thrown by an admin route (the verify path counts its own): 503 to the caller.
 * `store_conflict` is not one: it is the caller's duplicate.
 */
function isStoreFailure(error: unknown): boolean {
  return (
    error instanceof KeywardError &&
    (error.code === 'store_unavailable' || error.code === 'store_corrupt')
  )
}

/**
 * A histogram whose buckets are `LatencyRecorder`s, exposed through the registry: the registry
 * asks `get()` at scrape time, the same call it makes of its own metrics.
 */
class RecordedHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly series: ReadonlyMap<string, LatencyRecorder>,
  ) {}

  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] =
      []
    for (const [route, recorder] of this.series) {
      let cumulative = 0
      for (const [i, bound] of LATENCY_BUCKETS_SECONDS.entries()) {
        cumulative += recorder.counts[i]!
        values.push({
          labels: { route, le: bound },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        })
      }
      cumulative += recorder.counts[LATENCY_BUCKETS_SECONDS.length]!
      values.push({
        labels: { route, le: '+Inf' },
        value: cumulative,
        metricName: `${this.name}_bucket`,
      })
      values.push({ labels: { route }, value: recorder.sum, metricName: `${this.name}_sum` })
      values.push({ labels: { route }, value: cumulative, metricName: `${this.name}_count` })
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    }
  }

  reset(): void {}
}

let processRegistry: Registry | null = null

/** prom-client's process series, registered once per process (they describe the process). */
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export interface ServiceMetricsOptions {
  keyward: Keyward
  /** keyward's version, for `keyward_build_info`. */
  version: string
}

/**
 * The service's metrics: `attach(app)` before any route is added counts every route's requests
 * and times authentication; `text()` renders the Prometheus exposition.
 *
 * @example
 * const metrics = createServiceMetrics({ keyward, version })
 * metrics.attach(app)
 * app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()))
 */
export function createServiceMetrics(options: ServiceMetricsOptions) {
  const { keyward, version } = options
  const registry = new Registry()
  const latency = new Map([
    ['verify_api', new LatencyRecorder()],
    ['auth', new LatencyRecorder()],
  ])
  const verifyApi = latency.get('verify_api')!
  const auth = latency.get('auth')!
  const requests: RequestCounter[] = []
  const unmatched = new Map<string, RequestCounter>()
  let apiStoreErrors = 0

  const stats = () => keyward.verifier.stats()
  const registers = [registry]

  /** A counter with one label, its values read from plain counts when Prometheus scrapes. */
  function countsCounter(
    name: string,
    help: string,
    label: string,
    read: () => Record<string, number>,
  ): void {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect() {
        this.reset()
        for (const [value, n] of Object.entries(read())) this.inc({ [label]: value }, n)
      },
    })
  }

  countsCounter(
    'keyward_verifications_total',
    'Verifications by outcome: ok, or the denial code (key_invalid, rate_limited, store_unavailable, ...)',
    'code',
    () => ({ ...stats().outcomes }),
  )
  countsCounter(
    'keyward_cache_lookups_total',
    'Verification cache lookups: hit (a key), negative_hit (a credential known to be unknown), miss (the store was asked)',
    'result',
    () => {
      const { cache } = stats()
      return { hit: cache.hits, negative_hit: cache.negativeHits, miss: cache.misses }
    },
  )
  new Gauge({
    name: 'keyward_cache_entries',
    help: 'Entries in the verification cache: key (verified keys), unknown (credentials remembered as unknown)',
    labelNames: ['kind'],
    registers,
    collect() {
      const { entries } = stats().cache
      this.set({ kind: 'key' }, entries.found)
      this.set({ kind: 'unknown' }, entries.notFound)
    },
  })
  countsCounter(
    'keyward_limiter_decisions_total',
    'Rate limiter decisions for keys with limits: allowed, or the refusal code',
    'decision',
    () => {
      const { degraded: _, ...decisions } = stats().limiter
      return decisions
    },
  )
  new Counter({
    name: 'keyward_limiter_degraded_total',
    help: 'Limiter decisions taken by the local fallback because Redis was unreachable',
    registers,
    collect() {
      this.reset()
      this.inc(stats().limiter.degraded)
    },
  })
  countsCounter(
    'keyward_store_errors_total',
    'Key store failures: verify (a lookup; answered store_unavailable), usage_flush (a batched usage write; retried), api (an admin API call answered 503)',
    'operation',
    () => {
      const { storeErrors } = stats()
      return {
        verify: storeErrors.lookup,
        usage_flush: storeErrors.usageFlush,
        api: apiStoreErrors,
      }
    },
  )
  countsCounter(
    'keyward_usage_cells_dropped_total',
    'Verifications usage analytics could not keep in a cell of their own (memory bound): dropped (not recorded, usage.maxCells reached), merged (counted under the tag "other", usage.maxTagsPerKey reached)',
    'reason',
    () => {
      const { usage } = stats()
      return { dropped: usage.dropped, merged: usage.tagsMerged }
    },
  )
  new Counter({
    name: 'keyward_http_requests_total',
    help: 'HTTP requests by method, route pattern (unmatched for paths no route serves) and status class',
    labelNames: ['method', 'route', 'status_class'],
    registers,
    collect() {
      this.reset()
      for (const counter of [...requests, ...unmatched.values()]) {
        for (let c = 1; c <= 5; c++) {
          const n = counter.byClass[c]!
          if (n > 0)
            this.inc({ method: counter.method, route: counter.route, status_class: `${c}xx` }, n)
        }
      }
    },
  })
  registry.registerMetric(
    new RecordedHistogram(
      'keyward_verify_duration_seconds',
      'Seconds to answer POST /v1/keys/verify (route="verify_api") and to authenticate a call to the service (route="auth")',
      latency,
    ) as unknown as Metric,
  )
  new Counter({
    name: 'keyward_audit_events_dropped_total',
    help: 'Denials of known keys not written to the audit trail: the in-memory buffer already held its maximum of distinct events (identical denials merge and are not dropped)',
    registers,
    collect() {
      this.reset()
      this.inc(stats().audit?.dropped ?? 0)
    },
  })
  // Key counts come from one cheap indexed query, run at most once per EXPIRY_REFRESH_MS
  // whatever the scrape rate, never per request. A failed query keeps the last values.
  let expiry: { at: number; pastPolicy: number; expiring: number[] } | null = null
  let refreshing: Promise<void> | null = null
  const refreshExpiry = async (): Promise<void> => {
    const now = Date.now()
    if (expiry !== null && now - expiry.at < EXPIRY_REFRESH_MS) return
    refreshing ??= keyward.store
      .expiryCounts(now, EXPIRING_WINDOWS.map(([, ms]) => ms))
      .then(
        (counts) => {
          expiry = { at: now, ...counts }
        },
        () => {},
      )
      .finally(() => {
        refreshing = null
      })
    await refreshing
  }
  new Gauge({
    name: 'keyward_keys_past_policy',
    help: "Active keys whose current secret is older than the expiry policy's maximum age (rotate them)",
    registers,
    async collect() {
      await refreshExpiry()
      if (expiry !== null) this.set(expiry.pastPolicy)
    },
  })
  new Gauge({
    name: 'keyward_keys_expiring',
    help: 'Active keys that expire within the labelled time (and have not expired yet)',
    labelNames: ['within'],
    registers,
    async collect() {
      await refreshExpiry()
      if (expiry === null) return
      for (const [i, [label]] of EXPIRING_WINDOWS.entries())
        this.set({ within: label }, expiry.expiring[i] ?? 0)
    },
  })
  new Gauge({
    name: 'keyward_build_info',
    help: 'keyward and Node.js versions of this process (always 1)',
    labelNames: ['version', 'node'],
    registers,
  }).set({ version, node: process.version }, 1)

  function unmatchedCounter(method: string): RequestCounter {
    let counter = unmatched.get(method)
    if (counter === undefined) {
      counter = new RequestCounter(method, 'unmatched')
      unmatched.set(method, counter)
    }
    return counter
  }

  /** Adds this route's counting and timing hooks (called from `onRoute`). */
  function instrument(route: {
    method: string | string[]
    url: string
    config?: { keyward?: unknown }
    onSend?: unknown
    preParsing?: unknown
  }): void {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const counters = methods.map((method) => {
      const counter = new RequestCounter(method, route.url)
      requests.push(counter)
      return counter
    })
    const single = counters.length === 1 ? counters[0]! : null
    const isVerifyApi = single?.method === VERIFY_ROUTE.method && route.url === VERIFY_ROUTE.url
    const authenticated = route.config?.keyward !== false
    const counted = own(
      (
        request: FastifyRequest,
        reply: FastifyReply,
        payload: unknown,
        done: (e: null, p: unknown) => void,
      ): void => {
        const counter = single ?? counters.find((c) => c.method === request.method)
        counter?.record(reply.statusCode)
        const seconds = (performance.now() - (request as Timed)[STARTED_AT]) / 1000
        if (isVerifyApi) verifyApi.observe(seconds)
        // not let through: authentication answered (a denial) or failed, so it took all this time
        if (authenticated && !(request as Timed)[AUTHENTICATED]) auth.observe(seconds)
        done(null, payload)
      },
    )
    route.onSend = [...withoutOwn(route.onSend), counted]
    if (authenticated) {
      // preParsing hooks run once every onRequest hook is done, keyward's first among them
      const authDone = own(
        (
          request: FastifyRequest,
          _reply: FastifyReply,
          payload: unknown,
          done: (e: null, p: unknown) => void,
        ) => {
          const timed = request as Timed
          timed[AUTHENTICATED] = true
          auth.observe((performance.now() - timed[STARTED_AT]) / 1000)
          done(null, payload)
        },
      )
      route.preParsing = [authDone, ...withoutOwn(route.preParsing)]
    } else if (route.preParsing !== undefined) {
      route.preParsing = withoutOwn(route.preParsing)
    }
  }

  return {
    registry,
    contentType: registry.contentType,

    /**
     * Counts and times every route added after this call; call it before adding routes.
     * Requests are counted when their answer is sent (onSend): an onResponse hook would make
     * Fastify set up response listeners for every request, about 5 µs of a 50 µs verify call.
     */
    attach(app: FastifyInstance): void {
      app.decorateRequest(AUTHENTICATED, false)
      app.decorateRequest(STARTED_AT, 0)
      app.addHook('onRoute', instrument)
      // global onRequest hooks run before every route's, keyward's included
      app.addHook('onRequest', (request, _reply, done) => {
        ;(request as Timed)[STARTED_AT] = performance.now()
        done()
      })
      // requests no route matched get no route hooks
      app.addHook('onSend', (request, reply, payload, done) => {
        if (request.is404) unmatchedCounter(request.method).record(reply.statusCode)
        done(null, payload)
      })
      app.addHook('onError', (_request, _reply, error, done) => {
        if (isStoreFailure(error)) apiStoreErrors++
        done()
      })
    },

    /** The exposition: the service's series, then the process's (prom-client defaults). */
    async text(): Promise<string> {
      return (await registry.metrics()) + (await processMetrics().metrics())
    },
  }
}

export type ServiceMetrics = ReturnType<typeof createServiceMetrics>
