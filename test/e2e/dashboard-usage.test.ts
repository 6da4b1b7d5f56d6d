/// <reference lib="dom" />
// The dashboard's charts and audit trail in Chromium, after real traffic through the verify API,
// and a session that expires. The service runs in this process (its session clock is the
// test's); the usage and audit screens read the service's own usage and audit endpoints.
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  describeWithBrowser,
  expectAccessible,
  launchBrowser,
  screenshot,
  signIn,
  type Watched,
  watchedPage,
} from '../helpers/browser.js'
import { startService, type TestService } from '../helpers/service.js'

describeWithBrowser('dashboard charts, audit trail and session expiry in Chromium', () => {
  let svc: TestService
  let browser: Browser
  let w: Watched
  let page: Page
  let sessionNow = Date.now()
  const sessionClock = { now: () => sessionNow }
  let billing: { id: string; key: string }

  async function verifyCalls(key: string, count: number, scopes?: string[]) {
    for (let i = 0; i < count; i++) {
      const res = await svc.call('POST', '/v1/keys/verify', {
        key: svc.verifyKey,
        body: scopes === undefined ? { key } : { key, scopes },
      })
      expect(res.status).toBe(200)
    }
  }

  beforeAll(async () => {
    svc = await startService({
      service: { dashboard: { clock: sessionClock, sessionIdleMs: 30 * 60_000 } },
    })
    billing = await svc.createKey({
      name: 'billing service',
      ownerId: 'svc:billing',
      scopes: ['orders:read'],
    })
    browser = await launchBrowser()
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    w = await watchedPage(context)
    page = w.page
    await signIn(page, svc.url, svc.adminKey)
  })

  afterAll(async () => {
    await browser?.close()
    await svc?.close()
  })

  /** The totals table under the chart: outcome label -> count. */
  async function totals(): Promise<Record<string, string>> {
    const rows = await page
      .locator('table.totals tbody tr[data-code]')
      .evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-code'), tr.querySelector('td.num')?.textContent]),
      )
    return Object.fromEntries(rows)
  }

  it("the key's usage chart gains points after real traffic, by outcome", async () => {
    await page.goto(`${svc.url}/dashboard/keys/${billing.id}`)
    await page.getByRole('button', { name: 'Last hour' }).click()
    await page.getByText('No verifications in this period.').waitFor()
    const chart = page.locator('.chart-canvas')
    const before = await chart.screenshot()
    await verifyCalls(billing.key, 7)
    await verifyCalls(billing.key, 3, ['orders:write'])
    // another period and back: the chart asks the server again
    await page.getByRole('button', { name: 'Last day' }).click()
    await page.getByRole('button', { name: 'Last hour' }).click()
    await expect.poll(totals).toEqual({ valid: '7', insufficient_scope: '3' })
    expect(await chart.getAttribute('aria-label')).toContain('10 verifications')
    // the lines are drawn: the canvas is not the empty one any more
    expect((await chart.screenshot()).equals(before)).toBe(false)
    await expectAccessible(page, 'key page with usage')
    await screenshot(page, 'key-page-usage')
  })

  it('the overview shows the traffic per minute and the top keys by traffic and by denials', async () => {
    const noisy = await svc.createKey({ name: 'noisy <script>alert(1)</script>', scopes: [] })
    await verifyCalls(noisy.key, 4, ['orders:read'])
    await page.getByRole('link', { name: 'Overview' }).first().click()
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
    const traffic = page.locator('section[aria-labelledby="top-traffic-title"] li')
    await expect.poll(() => traffic.allTextContents()).toContain('billing service 10 calls')
    const denied = page.locator('section[aria-labelledby="top-denied-title"] li')
    await expect
      .poll(() => denied.first().textContent())
      .toBe('noisy <script>alert(1)</script> 4 refused')
    expect(await page.locator('main script').count()).toBe(0)
    // every verification counts, the dashboard's own calls (the admin key's) too
    const all = await totals()
    expect(all.insufficient_scope).toBe('7')
    expect(Number(all.valid)).toBeGreaterThanOrEqual(7)
    await expectAccessible(page, 'overview with traffic')
    await screenshot(page, 'overview-traffic')
  })

  it('the audit trail filters by event and by key', async () => {
    const other = await svc.createKey({ name: 'to revoke' })
    await svc.call('POST', `/v1/keys/${billing.id}/rotate`, { body: { gracePeriod: '1h' } })
    await svc.call('DELETE', `/v1/keys/${other.id}`)
    await page.getByRole('link', { name: 'Audit' }).click()
    await page.getByRole('heading', { name: 'Audit trail' }).waitFor()
    const types = () =>
      page
        .locator('table.audit tbody tr')
        .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-type')))
    await expect.poll(types).toContain('key.revoked')
    await page.getByLabel('Event', { exact: true }).selectOption('key.revoked')
    await expect.poll(types).toEqual(['key.revoked'])
    // events of the last hour: all of them here; a filter the server applies
    await page.getByLabel('Since').selectOption('1h')
    await expect.poll(types).toEqual(['key.revoked'])
    await page.getByLabel('Event', { exact: true }).selectOption('')
    await page.getByLabel('Key id').fill(billing.id)
    await page.getByLabel('Key id').press('Tab')
    // key.denied: the calls with a scope the key lacks (an earlier test) are audit events too
    await expect
      .poll(async () => new Set(await types()))
      .toEqual(new Set(['key.created', 'key.rotated', 'key.denied']))
    const keys = await page.locator('table.audit tbody td[data-label="Key"]').count()
    expect(keys).toBeGreaterThan(0)
    await expectAccessible(page, 'audit trail')
    await screenshot(page, 'audit')
  })

  it('a key that may only read sees no create, rotate, revoke or audit', async () => {
    const reader = await svc.createKey({ name: 'auditor', scopes: ['keys:read'] })
    const context = await browser.newContext()
    try {
      const p = await context.newPage()
      await signIn(p, svc.url, reader.key)
      await p.getByRole('link', { name: 'Keys', exact: true }).click()
      await p.locator('table.keys tbody tr').first().waitFor()
      expect(await p.getByRole('link', { name: 'New key' }).count()).toBe(0)
      expect(await p.getByRole('link', { name: 'Audit', exact: true }).count()).toBe(0)
      await p.goto(`${svc.url}/dashboard/keys/${billing.id}`)
      await p.getByRole('heading', { name: 'Details' }).waitFor()
      expect(await p.getByRole('button', { name: /Rotate|Revoke/ }).count()).toBe(0)
      expect(await p.getByRole('heading', { name: 'Audit events' }).count()).toBe(0)
    } finally {
      await context.close()
    }
  })

  it('an expired session sends the user back to sign-in, saying why', async () => {
    await page.getByRole('link', { name: 'Keys', exact: true }).click()
    await page.locator('table.keys tbody tr').first().waitFor()
    sessionNow += 31 * 60_000
    await page.getByRole('link', { name: 'Overview' }).first().click()
    await page.getByText('Your session ended').waitFor()
    await page.getByLabel('Admin key').waitFor()
    expect(w.problems).toEqual([])
  })
})
