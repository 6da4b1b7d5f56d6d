// Makes the README's dashboard pictures (docs/dashboard-overview.png, docs/dashboard-key.png):
// a service in this process with a few keys and a day of real verifications through the verify
// API, each recorded at a time spread over the last 24 hours, shown in Debian's Chromium.
// Run: npm run docs:dashboard (after npm run build).
import { join } from 'node:path'
import { launchBrowser, signIn } from '../test/helpers/browser.js'
import { startService } from '../test/helpers/service.js'

const DOCS = join(import.meta.dirname, '..', 'docs')
let fakeNow = Date.now()
// keyward's clock: each verification is recorded by usage analytics at the time set before it
const svc = await startService({ keyward: { clock: { now: () => fakeNow } } })
const billing = await svc.createKey({ name: 'billing service', ownerId: 'svc:billing', scopes: ['orders:read'] })
const reports = await svc.createKey({ name: 'nightly reports', ownerId: 'svc:reports', scopes: ['orders:read'] })
const partner = await svc.createKey({
  name: 'partner sandbox',
  ownerId: 'acme',
  scopes: ['orders:read'],
  expiresInMs: 5 * 86_400_000,
})
await svc.createKey({ name: 'mobile app', ownerId: 'team:mobile', scopes: ['orders:read', 'orders:write'] })
const now = Date.now()
async function traffic(key: string, calls: number, spreadMs: number, scopes?: string[]) {
  for (let i = 0; i < calls; i++) {
    fakeNow = now - Math.floor(Math.random() * spreadMs)
    await svc.call('POST', '/v1/keys/verify', { key: svc.verifyKey, body: scopes ? { key, scopes } : { key } })
  }
}
await traffic(billing.key, 900, 86_400_000)
await traffic(reports.key, 300, 6 * 3_600_000)
await traffic(partner.key, 120, 86_400_000, ['orders:write'])
await traffic(billing.key, 40, 3_600_000, ['orders:write'])
fakeNow = now
// last use and counts are written in batches: write them before they are shown
await svc.keyward.flush()
await svc.call('POST', `/v1/keys/${billing.id}/rotate`, { body: { gracePeriod: '24h' } })

const browser = await launchBrowser()
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
await signIn(page, svc.url, svc.adminKey)
await page.locator('section[aria-labelledby="top-traffic-title"] li').first().waitFor()
await page.screenshot({ path: join(DOCS, 'dashboard-overview.png'), fullPage: true })
await page.goto(`${svc.url}/dashboard/keys/${billing.id}`)
await page.locator('table.totals tbody tr[data-code]').first().waitFor()
await page.screenshot({ path: join(DOCS, 'dashboard-key.png'), fullPage: true })
await browser.close()
await svc.close()
console.log('wrote docs/dashboard-overview.png and docs/dashboard-key.png')
