// bench/proxy's keyward: createService with the proxy in front of BENCH_UPSTREAM (no route
// rules), on a memory store with the memory limiter and no request log, as `keyward serve
// --upstream` runs without a log. Writes a valid key to BENCH_KEY_FILE (mode 0600), then prints
// `listening on URL`.
import { writeFileSync } from 'node:fs'
import { createKeyward } from '../../src/core/keyward.js'
import { createMemoryLimiter } from '../../src/limits/memory.js'
import { createService, SERVICE_IMPLIED_SCOPES } from '../../src/server/app.js'
import { resolveProxyConfig } from '../../src/server/proxy/config.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { createTokenSigner } from '../../src/tokens/signer.js'
import { BENCH_PEPPERS, printListening } from '../lib.js'

const store = createMemoryStore()
await store.migrate()
const keyward = await createKeyward({
  store,
  peppers: BENCH_PEPPERS,
  impliedScopes: SERVICE_IMPLIED_SCOPES,
  limits: { limiter: createMemoryLimiter() },
})
const signer = await createTokenSigner({
  store,
  secrets: { peppers: BENCH_PEPPERS },
  issuer: 'http://127.0.0.1',
})
const proxy = resolveProxyConfig({
  upstream: process.env.BENCH_UPSTREAM!,
  upstreamOrigin: 'BENCH_UPSTREAM',
  upstreams: undefined,
  routes: undefined,
  file: 'bench',
  timeoutMs: 30_000,
  connectTimeoutMs: 5_000,
})!
// the bench streams 100 MB bodies: the request timeout is the operator's to raise
const app = await createService({
  keyward,
  signer,
  proxy,
  version: 'bench',
  limits: { requestTimeoutMs: 120_000, keepAliveTimeoutMs: 60_000 },
})
const { key } = await keyward.createKey({ name: 'bench caller', scopes: ['orders:read'] })
writeFileSync(process.env.BENCH_KEY_FILE!, key, { mode: 0o600 })
await app.listen({ port: 0, host: '127.0.0.1' })
printListening(app.server)
process.on('SIGTERM', async () => {
  await app.close()
  signer.close()
  await keyward.close()
  await store.close()
  process.exit(0)
})
