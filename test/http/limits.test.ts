// Rate limits, quotas and abuse protection over real HTTP: one table of scenarios, run against
// every adapter. Time comes from an injected clock (memory limiter and keyward share it), so
// every number in a header is exact; the Redis cases point at a dead port.
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { generateKey } from '../../src/core/key-format.js'
import { type CreateKeyInput, createKeyward, type Keyward } from '../../src/core/keyward.js'
import type { Store } from '../../src/core/types.js'
import { createFailedAuthLimiter } from '../../src/limits/failed-auth.js'
import { createMemoryLimiter } from '../../src/limits/memory.js'
import { createRedisLimiter } from '../../src/limits/redis.js'
import type { Limiter } from '../../src/limits/types.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import {
  ADAPTERS,
  type AdapterName,
  type AppOptions,
  type RawResponse,
  rawRequest,
  type RunningApp,
  startApp,
} from './apps.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]
const MINUTE = 60_000
const DAY = 86_400_000
const READ = ['orders:read']

/** What a scenario gets: a running app and the means to drive it. */
interface Ctx {
  keyward: Keyward
  /** Creates a key (scope orders:read unless given) and returns the secret. */
  key(input?: Partial<CreateKeyInput>): Promise<string>
  /** GET /orders with these headers (repeated names allowed). */
  get(headers?: [string, string][]): Promise<RawResponse>
  /** Moves the shared clock forward. */
  advance(ms: number): void
  /** `findByHash` calls the store has answered so far. */
  storeLookups(): number
}

interface Setup {
  /** The limiter of keyward's step 6; default a memory limiter on the test clock. */
  limiter?: (clock: { now(): number }) => Limiter
  /** Adapter options besides `keyward`; gets the limiter so a failed-auth limiter can share it. */
  options?: (limiter: Limiter, clock: { now(): number }) => Omit<AppOptions, 'keyward'>
}

interface Scenario extends Setup {
  name: string
  run(ctx: Ctx): Promise<void>
}

const key = (k: string): [string, string] => ['X-API-Key', k]
const from = (ip: string): [string, string] => ['X-Forwarded-For', ip]

function expect429(res: RawResponse, code: 'rate_limited' | 'quota_exhausted'): void {
  expect(res.status).toBe(429)
  expect(res.headers['content-type']).toBe('application/problem+json')
  expect(res.headers['cache-control']).toBe('no-store')
  expect(res.headers['www-authenticate']).toBeUndefined()
  expect(JSON.parse(res.body)).toMatchObject({ status: 429, code })
}

const SCENARIOS: Scenario[] = [
  {
    name: 'a rate limit: RateLimit on every admitted response, then 429 with Retry-After',
    async run({ key: make, get }) {
      const k = await make({ rateLimits: [{ name: 'default', limit: 2, windowMs: MINUTE }] })
      const first = await get([key(k)])
      expect(first.status).toBe(200)
      expect(first.headers['ratelimit-policy']).toBe('"default";q=2;w=60')
      expect(first.headers.ratelimit).toBe('"default";r=1;t=30')
      const second = await get([key(k)])
      expect(second.status).toBe(200)
      expect(second.headers.ratelimit).toBe('"default";r=0;t=60')
      const refused = await get([key(k)])
      expect429(refused, 'rate_limited')
      // GCRA: one request is earned back every 60 s / 2
      expect(refused.headers['retry-after']).toBe('30')
      expect(refused.headers['ratelimit-policy']).toBe('"default";q=2;w=60')
      expect(refused.headers.ratelimit).toBe('"default";r=0;t=60')
      for (const res of [first, second, refused]) expect(JSON.stringify(res)).not.toContain(k)
    },
  },
  {
    name: 'a key without limits gets no RateLimit fields',
    async run({ key: make, get }) {
      const res = await get([key(await make())])
      expect(res.status).toBe(200)
      expect(res.headers.ratelimit).toBeUndefined()
      expect(res.headers['ratelimit-policy']).toBeUndefined()
    },
  },
  {
    name: 'several limits and a quota, in one field each',
    async run({ key: make, get }) {
      const k = await make({
        rateLimits: [
          { name: 'burst', limit: 5, windowMs: 1_000 },
          { name: 'hour', limit: 100, windowMs: 3_600_000 },
        ],
        quota: { limit: 1000, periodMs: 30 * DAY },
      })
      const res = await get([key(k)])
      expect(res.headers['ratelimit-policy']).toBe(
        '"burst";q=5;w=1, "hour";q=100;w=3600, "quota";q=1000;w=2592000',
      )
      expect(res.headers.ratelimit).toBe(
        '"burst";r=4;t=1, "hour";r=99;t=36, "quota";r=999;t=2592000',
      )
    },
  },
  {
    name: 'quota exhausted -> 429 quota_exhausted until the period ends',
    async run({ key: make, get, advance }) {
      const k = await make({ quota: { limit: 2, periodMs: DAY } })
      expect((await get([key(k)])).headers.ratelimit).toBe('"quota";r=1;t=86400')
      advance(3_600_000)
      expect((await get([key(k)])).headers.ratelimit).toBe('"quota";r=0;t=82800')
      const refused = await get([key(k)])
      expect429(refused, 'quota_exhausted')
      expect(refused.headers['retry-after']).toBe('82800')
      expect(refused.headers['ratelimit-policy']).toBe('"quota";q=2;w=86400')
      expect(refused.headers.ratelimit).toBe('"quota";r=0;t=82800')
      advance(82_800_000)
      expect((await get([key(k)])).status).toBe(200)
    },
  },
  {
    name: 'a retried request with the same Idempotency-Key is not charged',
    async run({ key: make, get }) {
      const k = await make({ quota: { limit: 2, periodMs: DAY } })
      const once = [key(k), ['Idempotency-Key', 'order-7f3a'] as [string, string]]
      expect((await get(once)).headers.ratelimit).toBe('"quota";r=1;t=86400')
      const retry = await get(once)
      expect(retry.status).toBe(200)
      expect(retry.headers.ratelimit).toBe('"quota";r=1;t=86400')
      const other = await get([key(k), ['Idempotency-Key', 'order-91bc']])
      expect(other.headers.ratelimit).toBe('"quota";r=0;t=86400')
      expect((await get(once)).status).toBe(200)
      expect429(await get([key(k)]), 'quota_exhausted')
      // malformed or repeated keys are ignored: the request is judged (and charged) as usual
      expect429(await get([key(k), ['Idempotency-Key', 'has space']]), 'quota_exhausted')
    },
  },
  {
    name: 'the cost hook charges several units per request',
    options: () => ({ cost: () => 3 }),
    async run({ key: make, get }) {
      const k = await make({ quota: { limit: 10, periodMs: DAY } })
      expect((await get([key(k)])).headers.ratelimit).toBe('"quota";r=7;t=86400')
      expect((await get([key(k)])).headers.ratelimit).toBe('"quota";r=4;t=86400')
      expect((await get([key(k)])).headers.ratelimit).toBe('"quota";r=1;t=86400')
      const refused = await get([key(k)])
      expect429(refused, 'quota_exhausted')
      expect(refused.headers.ratelimit).toBe('"quota";r=1;t=86400')
    },
  },
  {
    name: 'failed-auth limiter: after N bad keys the client gets 429 without a store lookup',
    options: () => ({ failedAuth: { limit: 3, windowMs: MINUTE } }),
    async run({ key: make, get, advance, storeLookups }) {
      const good = await make({ quota: { limit: 5, periodMs: DAY } })
      const lookups = storeLookups()
      // no key at all is not a guess
      for (let i = 0; i < 5; i++) expect((await get()).status).toBe(401)
      for (let i = 0; i < 3; i++) {
        const res = await get([key(generateKey())])
        expect(res.status).toBe(401)
        expect(JSON.parse(res.body).code).toBe('key_invalid')
      }
      expect(storeLookups()).toBe(lookups + 3)
      const blocked = await get([key(generateKey())])
      expect429(blocked, 'rate_limited')
      expect(blocked.headers['retry-after']).toBe('20')
      expect(blocked.headers.ratelimit).toBeUndefined()
      // blocked means blocked, good key included, and nothing is looked up or charged
      expect429(await get([key(good)]), 'rate_limited')
      expect429(await get(), 'rate_limited')
      expect(storeLookups()).toBe(lookups + 3)
      advance(20_000)
      const back = await get([key(good)])
      expect(back.status).toBe(200)
      expect(back.headers.ratelimit).toBe('"quota";r=4;t=86400')
    },
  },
  {
    name: 'failed-auth limiter on the keys’ limiter: per client, never charges a key',
    options: (limiter) => ({
      failedAuth: createFailedAuthLimiter({ limiter, limit: 2, windowMs: MINUTE }),
      trustedProxies: ['127.0.0.1'],
    }),
    async run({ key: make, get, storeLookups }) {
      const good = await make({ quota: { limit: 5, periodMs: DAY } })
      expect((await get([key(good), from('198.51.100.1')])).headers.ratelimit).toBe(
        '"quota";r=4;t=86400',
      )
      for (let i = 0; i < 2; i++)
        expect((await get([key(generateKey()), from('198.51.100.2')])).status).toBe(401)
      const lookups = storeLookups()
      expect429(await get([key(good), from('198.51.100.2')]), 'rate_limited')
      expect429(await get([key(generateKey()), from('198.51.100.2')]), 'rate_limited')
      expect(storeLookups()).toBe(lookups)
      // another client is not blocked, and the key lost nothing to the blocked one
      const other = await get([key(good), from('198.51.100.1')])
      expect(other.status).toBe(200)
      expect(other.headers.ratelimit).toBe('"quota";r=3;t=86400')
    },
  },
  {
    name: 'X-Forwarded-For from a trusted proxy names the client',
    options: () => ({ trustedProxies: ['127.0.0.0/8'] }),
    async run({ key: make, get }) {
      const remote = await make({ ipAllowlist: ['203.0.113.0/24'] })
      expect((await get([key(remote), from('203.0.113.9')])).status).toBe(200)
      // the right-most entry a trusted proxy did not write is the client: the left one is forged
      expect((await get([key(remote), from('203.0.113.9, 192.0.2.1')])).status).toBe(403)
      expect((await get([key(remote)])).status).toBe(403)
    },
  },
  {
    name: 'IPv4-mapped IPv6 in any spelling is its IPv4 client: one failed-auth count, one allowlist',
    options: () => ({
      trustedProxies: ['127.0.0.1'],
      failedAuth: { limit: 4, windowMs: MINUTE },
    }),
    async run({ key: make, get }) {
      const good = await make()
      const spellings = ['::ffff:102:304', '::ffff:0102:0304', '::FFFF:102:304', '::ffff:1.2.3.4']
      for (const ip of spellings)
        expect((await get([key(generateKey()), from(ip)])).status).toBe(401)
      expect429(await get([key(good), from('1.2.3.4')]), 'rate_limited')
      expect((await get([key(good), from('1.2.3.5')])).status).toBe(200)
      expect((await get([key(good), from('::ffff:102:305')])).status).toBe(200)
      const remote = await make({ ipAllowlist: ['5.6.7.0/24'] })
      expect((await get([key(remote), from('::ffff:506:709')])).status).toBe(200)
      expect((await get([key(remote), from('::FFFF:0506:0709')])).status).toBe(200)
      expect((await get([key(remote), from('::ffff:506:809')])).status).toBe(403)
    },
  },
  {
    name: 'X-Forwarded-For from an untrusted peer is ignored',
    options: () => ({
      trustedProxies: ['10.0.0.0/8'],
      failedAuth: { limit: 2, windowMs: MINUTE },
    }),
    async run({ key: make, get }) {
      const remote = await make({ ipAllowlist: ['203.0.113.0/24'] })
      const spoofed = await get([key(remote), from('203.0.113.9')])
      expect(spoofed.status).toBe(403)
      expect(JSON.parse(spoofed.body).code).toBe('ip_not_allowed')
      // a guesser cannot escape its count by varying the header
      for (let i = 0; i < 2; i++)
        expect((await get([key(generateKey()), from(`192.0.2.${i}`)])).status).toBe(401)
      expect429(await get([key(generateKey()), from('192.0.2.77')]), 'rate_limited')
    },
  },
  {
    name: 'Redis limiter down, fail-closed -> 503 with Retry-After for keys with limits',
    limiter: () => deadRedis('fail-closed'),
    async run({ key: make, get }) {
      const limited = await make({
        rateLimits: [{ name: 'default', limit: 100, windowMs: MINUTE }],
      })
      const res = await get([key(limited)])
      expect(res.status).toBe(503)
      expect(res.headers['retry-after']).toBe('1')
      expect(res.headers['cache-control']).toBe('no-store')
      expect(res.headers.ratelimit).toBeUndefined()
      expect(JSON.parse(res.body).code).toBe('store_unavailable')
      // keys without limits never ask the limiter
      expect((await get([key(await make())])).status).toBe(200)
    },
  },
  {
    name: 'Redis limiter down, degrade -> admitted by the local limiter',
    limiter: () => deadRedis('degrade'),
    async run({ key: make, get }) {
      const limited = await make({ rateLimits: [{ name: 'default', limit: 2, windowMs: MINUTE }] })
      const res = await get([key(limited)])
      expect(res.status).toBe(200)
      expect(res.headers.ratelimit).toBe('"default";r=1;t=30')
      expect((await get([key(limited)])).status).toBe(200)
      // still limited, per process
      expect429(await get([key(limited)]), 'rate_limited')
    },
  },
]

const cleanups: (() => Promise<void> | void)[] = []

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A Redis limiter whose client connects to a port nothing listens on. */
function deadRedis(failurePolicy: 'degrade' | 'fail-closed'): Limiter {
  const client = new Redis({
    host: '127.0.0.1',
    port: 1,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => 1_000,
  })
  client.on('error', () => {})
  cleanups.push(() => client.disconnect())
  return createRedisLimiter({
    client,
    failurePolicy,
    timeoutMs: 100,
    keyPrefix: 'keyward_http_test',
    logger: { warn() {} },
  })
}

/** A memory store that counts key lookups. */
function countingStore(): { store: Store; lookups: () => number } {
  let lookups = 0
  const target = createMemoryStore()
  const store = new Proxy(target, {
    get(t, name, receiver) {
      const value = Reflect.get(t, name, receiver)
      if (name === 'findByHash' && typeof value === 'function') {
        return (...args: unknown[]) => {
          lookups++
          return value.apply(t, args)
        }
      }
      return typeof value === 'function' ? value.bind(t) : value
    },
  })
  return { store, lookups: () => lookups }
}

async function setup(adapter: AdapterName, scenario: Scenario): Promise<Ctx> {
  let now = Date.UTC(2026, 0, 1)
  const clock = { now: () => now }
  const limiter = scenario.limiter?.(clock) ?? createMemoryLimiter({ clock })
  cleanups.push(() => limiter.close())
  const { store, lookups } = countingStore()
  const keyward = await createKeyward({ store, peppers: PEPPER, clock, limits: { limiter } })
  cleanups.push(() => keyward.close())
  const app: RunningApp = await startApp(adapter, {
    keyward,
    clock,
    ...scenario.options?.(limiter, clock),
  })
  cleanups.push(() => app.close())
  return {
    keyward,
    key: async (input = {}) => (await keyward.createKey({ name: 'k', scopes: READ, ...input })).key,
    get: (headers = []) => rawRequest(app.port, { headers }),
    advance: (ms) => {
      now += ms
    },
    storeLookups: lookups,
  }
}

describe.each(ADAPTERS)('%s adapter, limits', (adapter) => {
  it.each(SCENARIOS)('$name', async (scenario) => {
    await scenario.run(await setup(adapter, scenario))
  })
})
