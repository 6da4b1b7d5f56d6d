// bench/tokens: what accepting access tokens costs the middleware's verifier, in process, per
// second of CPU time (wall time on a shared machine mostly measures the other processes):
//   - a cached token (acceptTokens) against a cached API key (Keyward.verifyCached), 1,000 each;
//   - the revocation list: none, empty, and holding 10,000 revoked ids (other keys), checked on
//     every cached token;
//   - a token checked without the cache (jose, EdDSA), which the cache spares all but the
//     first request of each token.
// Each pair alternates ROUNDS times; lines give the median of per-round ratios.
import { ChangeListeners } from '../src/core/changes.js'
import { createKeyward } from '../src/core/keyward.js'
import type { VerifyOptions, VerifyResult } from '../src/core/verify-types.js'
import { createMemoryStore } from '../src/stores/memory/index.js'
import { acceptTokens } from '../src/tokens/accept.js'
import { createRevocationList } from '../src/tokens/revocations.js'
import { createTokenSigner } from '../src/tokens/signer.js'
import { BENCH_PEPPERS, fmt, median } from './lib.js'

const ISSUER = 'https://keys.bench.example'
const AUDIENCE = 'https://orders.bench.example'
const N = 200_000
const ROUNDS = 15
const SCOPES: VerifyOptions = { scopes: ['orders:read'] }

const store = createMemoryStore()
const keyward = await createKeyward({ store, peppers: BENCH_PEPPERS })
const signer = await createTokenSigner({
  store,
  secrets: { peppers: BENCH_PEPPERS },
  issuer: ISSUER,
})
const keys: string[] = []
const tokens: string[] = []
for (let i = 0; i < 1000; i++) {
  const { key, record } = await keyward.createKey({ name: `k${i}`, scopes: ['orders:read'] })
  keys.push(key)
  const issued = await signer.issueAccessToken({
    keyId: record.id,
    scopes: ['orders:read'],
    audience: AUDIENCE,
    lifetimeSec: 3600,
  })
  tokens.push(issued.token)
}

const jwks = signer.jwks()
const base = { jwks, issuer: ISSUER, audience: AUDIENCE }
/** A change feed of its own for each list, so that only one of them hears the revocations. */
const feedOf = () => {
  const listeners = new ChangeListeners()
  return { listeners, changes: { subscribe: listeners.add.bind(listeners) } }
}
const emptyFeed = feedOf()
const fullFeed = feedOf()
const verifiers = {
  plain: acceptTokens(base),
  empty: acceptTokens({
    ...base,
    revocations: createRevocationList({ changes: emptyFeed.changes }),
  }),
  full: acceptTokens({ ...base, revocations: createRevocationList({ changes: fullFeed.changes }) }),
  uncached: acceptTokens({ ...base, cacheMaxEntries: 0 }),
}
// 10,000 revoked keys, none of them the bench's: the list is asked and says no
for (let i = 0; i < 10_000; i++)
  fullFeed.listeners.deliver({
    kind: 'key',
    keyId: `key_${String(i).padStart(16, '0')}`,
    revoked: true,
  })

type Sync = (credential: string, options?: VerifyOptions) => VerifyResult | undefined

/** Verifications per CPU second of `verify` over `credentials`, all answered from caches. */
function rate(verify: Sync, credentials: readonly string[]): number {
  const start = process.cpuUsage()
  for (let i = 0; i < N; i++) {
    const r = verify(credentials[i % 1000]!, SCOPES)
    if (r === undefined || !r.ok) throw new Error(`bench setup broken: ${JSON.stringify(r)}`)
  }
  const used = process.cpuUsage(start)
  return (N / (used.user + used.system)) * 1e6
}

function compare(label: string, subject: () => number, baseline: () => number): void {
  const ratios: number[] = []
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const b1 = baseline()
    const s = subject()
    const b2 = baseline()
    ratios.push(s / ((b1 + b2) / 2))
    rates.push(s)
  }
  const ns = 1e9 / median(rates)
  console.log(
    `bench/tokens: ${label}: ${median(ratios).toFixed(3)}x (${fmt(median(rates))}/CPU s, ${ns.toFixed(0)} ns each; median of ${ROUNDS} alternating rounds)`,
  )
}

// warm-up: every token verified once into each cache, every key into the keyward's
for (const k of keys) await keyward.verify(k)
for (const v of [verifiers.plain, verifiers.empty, verifiers.full])
  for (const t of tokens) await v.verify(t)
const cachedKey: Sync = (c, o) => keyward.verifyCached(c, o)
const cachedToken =
  (v: keyof typeof verifiers): Sync =>
  (c, o) =>
    verifiers[v].verifyCached!(c, o)

compare(
  'a cached token vs a cached API key',
  () => rate(cachedToken('plain'), tokens),
  () => rate(cachedKey, keys),
)
compare(
  'a cached token with an empty revocation list vs none',
  () => rate(cachedToken('empty'), tokens),
  () => rate(cachedToken('plain'), tokens),
)
console.log(`bench/tokens: (the full list holds ${fmt(10_000)} revoked ids)`)
compare(
  'a cached token with 10,000 revoked ids in the list vs none',
  () => rate(cachedToken('full'), tokens),
  () => rate(cachedToken('plain'), tokens),
)

// jose's EdDSA verification, per token, when nothing is cached
const M = 5_000
const times: number[] = []
for (let r = 0; r < 5; r++) {
  const start = process.cpuUsage()
  for (let i = 0; i < M; i++) {
    const res = await verifiers.uncached.verify(tokens[i % 1000]!, SCOPES)
    if (!res.ok) throw new Error(`bench setup broken: ${res.code}`)
  }
  const used = process.cpuUsage(start)
  times.push((used.user + used.system) / M)
}
console.log(
  `bench/tokens: a token verified without the cache (jose, EdDSA) costs ${median(times).toFixed(1)} µs of CPU`,
)

signer.close()
await keyward.close()
