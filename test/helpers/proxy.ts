// A keyward service with the proxy on, in front of a real upstream (test/fixtures/upstream.ts):
// createService on a memory store, a real token signer, the proxy configured as the config
// file would configure it.
import { createMemoryLimiter } from '../../src/limits/memory.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { createTokenSigner, type TokenSigner } from '../../src/tokens/signer.js'
import { resolveProxyConfig } from '../../src/server/proxy/config.js'
import { startUpstream, type Upstream } from '../fixtures/upstream.js'
import { type StartOptions, startService, TEST_PEPPERS, type TestService } from './service.js'

export const ISSUER = 'http://keyward.test'

export interface ProxyFile {
  /** Default: the test upstream at "/". Null: none at "/". */
  upstream?: string | null
  /** The config file's "upstreams", or a function of the test upstream's URL returning them. */
  upstreams?: unknown
  routes?: unknown
  timeoutMs?: number
  connectTimeoutMs?: number
  /** The token signer's clock (default the system's). */
  clock?: { now(): number }
}

export interface ProxiedService extends TestService {
  upstream: Upstream
  signer: TokenSigner
}

/** Starts an upstream and the service in front of it. */
export async function startProxy(
  file: ProxyFile = {},
  options: Omit<StartOptions, 'store'> = {},
): Promise<ProxiedService> {
  const upstream = await startUpstream()
  const store = createMemoryStore()
  await store.migrate()
  const signer = await createTokenSigner({
    store,
    secrets: { peppers: TEST_PEPPERS },
    issuer: ISSUER,
    ...(file.clock === undefined ? {} : { clock: file.clock }),
  })
  const proxy = resolveProxyConfig({
    upstream: file.upstream === undefined ? upstream.url : file.upstream,
    upstreamOrigin: '--upstream',
    upstreams: typeof file.upstreams === 'function' ? file.upstreams(upstream.url) : file.upstreams,
    routes: file.routes,
    file: 'keyward.json',
    timeoutMs: file.timeoutMs ?? 30_000,
    connectTimeoutMs: file.connectTimeoutMs ?? 5_000,
  })
  if (proxy === null) throw new Error('no upstream configured')
  const svc = await startService({
    ...options,
    // limits counted in this process, as `keyward serve` without Redis
    keyward: { limits: { limiter: createMemoryLimiter() }, ...options.keyward },
    store,
    service: { ...options.service, signer, proxy },
  })
  return {
    ...svc,
    upstream,
    signer,
    async close() {
      await svc.close()
      signer.close()
      await upstream.close()
    },
  }
}
