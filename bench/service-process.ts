// bench/server's keyward service, in a process of its own (pinned apart from the load
// generator): createService on the SQLite file BENCH_DB (filled by bench/verify-fill.ts, so its
// pepper is BENCH_PEPPERS), with the memory limiter, the cache on or off (BENCH_CACHE=off), a
// token signer (POST /oauth/token, as keyward serve has) and no request log (the hand-written
// reference logs nothing either). Prints `listening on URL`.
import Database from 'better-sqlite3'
import { createKeyward } from '../src/core/keyward.js'
import { createMemoryLimiter } from '../src/limits/memory.js'
import { createService, SERVICE_IMPLIED_SCOPES } from '../src/server/app.js'
import { createSqliteStore } from '../src/stores/sqlite/index.js'
import { createTokenSigner } from '../src/tokens/signer.js'
import { BENCH_PEPPERS, printListening } from './lib.js'

const db = new Database(process.env.BENCH_DB!)
const store = createSqliteStore({ db })
const keyward = await createKeyward({
  store,
  peppers: BENCH_PEPPERS,
  impliedScopes: SERVICE_IMPLIED_SCOPES,
  limits: { limiter: createMemoryLimiter() },
  ...(process.env.BENCH_CACHE === 'off' ? { cache: false as const } : {}),
})
let url = ''
const signer = await createTokenSigner({
  store,
  secrets: { peppers: BENCH_PEPPERS },
  issuer: () => url,
})
const app = await createService({ keyward, signer, version: 'bench' })
await app.listen({ port: 0, host: '127.0.0.1' })
url = printListening(app.server)
process.on('SIGTERM', async () => {
  await app.close()
  signer.close()
  await keyward.close()
  await store.close()
  process.exit(0)
})
