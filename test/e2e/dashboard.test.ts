/// <reference lib="dom" />
// The dashboard in real Chromium against the built `keyward serve`, as an operator uses it:
// sign-in, create and use a key, rotate, revoke, the phone layout, the keyboard alone, axe, and
// bad input (wrong and revoked keys, a form with every field wrong, HTML in names, the server
// restarting, 10,000 keys).
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/stores/sqlite/index.js'
import { makeKey, makeSecret } from '../fixtures/records.js'
import {
  bootstrapKey,
  requireBuild,
  type ServeChild,
  spawnServe,
  stopServe,
  tempDir,
} from '../fixtures/serve-process.js'
import {
  describeWithBrowser,
  expectAccessible,
  launchBrowser,
  screenshot,
  signIn,
  type Watched,
  watchedPage,
} from '../helpers/browser.js'

const HTML_NAME = '<img src=x onerror="window.__pwned=1">billing'

describeWithBrowser('the dashboard in Chromium, against keyward serve', () => {
  let dir: string
  let serve: ServeChild
  let url: string
  let admin: string
  let verifier: string
  let browser: Browser
  let context: BrowserContext
  let w: Watched
  let page: Page

  async function start(port = '0'): Promise<void> {
    serve = spawnServe(
      ['--port', port, '--db', `sqlite:${join(dir, 'keyward.db')}`, '--log-level', 'warn'],
      {
        cwd: dir,
      },
    )
    url = await serve.listening()
  }

  /** An admin API call from outside the browser, with the bootstrap admin key. */
  async function api(method: string, path: string, body?: unknown, key = admin) {
    const res = await fetch(url + path, {
      method,
      headers: {
        'x-api-key': key,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, body: text === '' ? null : JSON.parse(text) }
  }

  async function verify(secret: string) {
    return (await api('POST', '/v1/keys/verify', { key: secret }, verifier)).body as {
      valid: boolean
      code: string
    }
  }

  beforeAll(async () => {
    requireBuild()
    dir = tempDir()
    await start()
    admin = bootstrapKey(serve.stderr())!
    expect(admin).toBeDefined()
    verifier = (await api('POST', '/v1/keys', { name: 'verifier', scopes: ['keys:verify'] })).body
      .key
    browser = await launchBrowser()
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url })
    w = await watchedPage(context)
    page = w.page
  })

  afterAll(async () => {
    await browser?.close()
    if (serve) await stopServe(serve)
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('serves /dashboard with a strict CSP, no framing and no inline script or style', async () => {
    const res = await fetch(`${url}/dashboard/`)
    expect(res.status).toBe(200)
    const csp = res.headers.get('content-security-policy')!
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    const html = await res.text()
    const scripts = html.match(/<script\b[^>]*>/g) ?? []
    expect(scripts.length).toBeGreaterThan(0)
    for (const tag of scripts) expect(tag).toMatch(/\ssrc="\/dashboard\/assets\/[^"]+\.js"/)
    expect(html).not.toMatch(/<script\b[^>]*>\s*[^<\s]/)
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i)
    const asset = /src="(\/dashboard\/assets\/[^"]+)"/.exec(html)![1]!
    const js = await fetch(url + asset)
    expect(js.headers.get('cache-control')).toContain('immutable')
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    // nothing from another origin: every src and href is this server's or a data: URL
    for (const [, link] of html.matchAll(/(?:src|href)="([^"]+)"/g))
      expect(link).toMatch(/^(\/dashboard\/|data:)/)
    expect((await fetch(`${url}/dashboard`, { redirect: 'manual' })).headers.get('location')).toBe(
      '/dashboard/',
    )
    expect((await fetch(`${url}/dashboard/assets/nope.js`)).status).toBe(404)
  })

  it('refuses a wrong key, a key that cannot read keys and a revoked admin key at sign-in', async () => {
    await page.goto(`${url}/dashboard/`)
    const field = page.getByLabel('Admin key')
    const error = page.locator('#sign-in-error')
    await field.fill('kw_live_notakeyatall')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => error.textContent()).toContain('not valid')
    await field.fill(verifier)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => error.textContent()).toContain('needs keys:read')
    const revoked = (await api('POST', '/v1/keys', { name: 'old admin', scopes: ['admin'] })).body
    await api('DELETE', `/v1/keys/${revoked.id}`)
    await field.fill(revoked.key)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => error.textContent()).toContain('revoked')
    // the field is emptied after each try: the key does not linger in the page
    expect(await field.inputValue()).toBe('')
    await expectAccessible(page, 'sign-in with an error')
    await screenshot(page, 'sign-in-refused')
  })

  it('signs in with the admin key and keeps no key in the browser', async () => {
    await signIn(page, url, admin)
    const stored = await page.evaluate(
      () =>
        JSON.stringify({ ...localStorage }) +
        JSON.stringify({ ...sessionStorage }) +
        document.cookie,
    )
    expect(stored).not.toContain(admin.slice(8))
    // the session cookie is HttpOnly: scripts cannot read it
    expect(await page.evaluate(() => document.cookie)).toBe('')
    const [cookie] = await context.cookies(url)
    expect(cookie).toMatchObject({ name: 'keyward_session', httpOnly: true, sameSite: 'Strict' })
    await expectAccessible(page, 'overview')
    await screenshot(page, 'overview')
  })

  let created: { id: string; secret: string }

  it('creates a key with a name holding HTML, shows the secret once, and the secret verifies', async () => {
    await page.getByRole('link', { name: 'Keys', exact: true }).click()
    await page.getByRole('link', { name: 'New key' }).click()
    await page.getByLabel('Name').fill(HTML_NAME)
    await page.getByLabel('Owner').fill('svc:billing')
    await page.getByLabel('Scopes').fill('orders:read, orders:write')
    await page.getByLabel('Expires in').fill('90d')
    await page.getByLabel('Rate limits').fill('burst=20/1s, hour=1000/1h')
    await page.getByLabel('Quota').fill('10000/30d')
    await page.getByLabel('Metadata').fill('{"team": "billing"}')
    await expectAccessible(page, 'create form')
    await page.getByRole('button', { name: 'Create key' }).click()
    await page.getByText('you will not see this again').waitFor()
    const secret = await page.locator('#secret-value').inputValue()
    expect(secret).toMatch(/^kw_live_[0-9A-Za-z]{49}$/)
    await page.getByRole('button', { name: 'Copy' }).click()
    await page.getByText('Copied to the clipboard.').waitFor()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret)
    await screenshot(page, 'secret-once')
    expect(await verify(secret)).toMatchObject({ valid: true, code: 'valid' })
    await page.getByRole('link', { name: /Open the key/ }).click()
    const heading = page.getByRole('heading', { level: 1 })
    await expect.poll(() => heading.textContent()).toContain(HTML_NAME)
    created = { id: /keys\/(key_\w+)/.exec(page.url())![1]!, secret }
    // rendered as text: no element came out of the name, no script ran
    expect(await page.locator('main img').count()).toBe(0)
    expect(
      await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned),
    ).toBeUndefined()
    // the secret is gone once the screen is left, and never was in a URL
    expect(await page.locator('#secret-value').count()).toBe(0)
    expect(w.urls.filter((u) => u.includes(secret.slice(10, 40)))).toEqual([])
    await expectAccessible(page, 'key page')
    await screenshot(page, 'key-page')
  })

  it('rotates behind a confirmation naming the key: the new secret works, the old one stops', async () => {
    await page.getByRole('button', { name: 'Rotate' }).click()
    const dialog = page.getByRole('dialog')
    await expect.poll(() => dialog.getByRole('heading').textContent()).toBe(`Rotate ${HTML_NAME}?`)
    await dialog.getByLabel('Grace period').selectOption('0s')
    await dialog.getByRole('button', { name: `Rotate ${HTML_NAME}` }).click()
    await page.getByText('you will not see this again').waitFor()
    const fresh = await page.locator('#secret-value').inputValue()
    expect(fresh).not.toBe(created.secret)
    expect(await verify(fresh)).toMatchObject({ valid: true })
    expect(await verify(created.secret)).toMatchObject({ valid: false, code: 'key_expired' })
    created.secret = fresh
    await page.getByRole('button', { name: /I have stored it/ }).click()
  })

  it('revokes behind a confirmation naming the key; the secret is refused at once', async () => {
    await page.getByRole('button', { name: 'Revoke' }).click()
    const dialog = page.getByRole('dialog')
    await expect.poll(() => dialog.textContent()).toContain(created.id)
    await expectAccessible(page, 'revoke dialog')
    await screenshot(page, 'revoke-confirmation')
    await dialog.getByRole('button', { name: `Revoke ${HTML_NAME}` }).click()
    await page.getByRole('status').filter({ hasText: 'is revoked' }).waitFor()
    await page.locator('h1 .status-revoked').waitFor()
    expect(await verify(created.secret)).toMatchObject({ valid: false, code: 'key_revoked' })
  })

  it('shows the server problem on the field, and every wrong field at once', async () => {
    await page.goto(`${url}/dashboard/keys/new`)
    const values: Record<string, string> = {
      Name: ' ',
      Owner: 'x'.repeat(201),
      Scopes: 'Orders:Read',
      Roles: 'Bad Role',
      'Expires in': 'soon',
      'Rate limits': 'lots',
      Quota: '-5',
      Metadata: '[1, 2',
      'IP allowlist': '999.1.1.1',
      Prefix: 'Live!',
    }
    for (const [label, value] of Object.entries(values)) await page.getByLabel(label).fill(value)
    await page.getByRole('button', { name: 'Create key' }).click()
    await page.locator('#form-error').filter({ hasText: '10 fields need fixing' }).waitFor()
    expect(await page.locator('.field-error').count()).toBe(10)
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('k-name')
    await expectAccessible(page, 'create form with errors')
    await screenshot(page, 'create-every-field-wrong')
    // correct as far as the browser can tell, but the role does not exist: the server says so
    const fixes: Record<string, string> = {
      Name: 'roles test',
      Owner: '',
      Scopes: 'orders:read',
      Roles: 'no-such-role',
      'Expires in': '',
      'Rate limits': '',
      Quota: '',
      Metadata: '',
      'IP allowlist': '',
      Prefix: '',
    }
    for (const [label, value] of Object.entries(fixes)) await page.getByLabel(label).fill(value)
    expect(await page.locator('.field-error').count()).toBe(0)
    await page.getByRole('button', { name: 'Create key' }).click()
    const onRoles = page.locator('.field-error[data-field="roles"]')
    await expect.poll(() => onRoles.textContent()).toContain('"no-such-role" is not defined')
    expect(await page.locator('.field-error').count()).toBe(1)
  })

  it('creates a key with the keyboard alone', async () => {
    await page.goto(`${url}/dashboard/keys`)
    await page.locator('table.keys').waitFor()
    const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim() ?? '')
    for (let i = 0; i < 40 && (await focused()) !== 'New key'; i++) await page.keyboard.press('Tab')
    expect(await focused()).toBe('New key')
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'New key', level: 1 }).waitFor()
    // the first field after the header's controls is the name
    for (
      let i = 0;
      i < 20 && (await page.evaluate(() => document.activeElement?.id)) !== 'k-name';
      i++
    )
      await page.keyboard.press('Tab')
    // each field holds what was typed into it before the next is reached
    const typeInto = async (id: string, text: string) => {
      await page.keyboard.type(text)
      await expect.poll(() => page.locator(`#${id}`).inputValue()).toBe(text)
    }
    await typeInto('k-name', 'typed without a mouse')
    await page.keyboard.press('Tab')
    await typeInto('k-owner', 'svc:keyboard')
    await page.keyboard.press('Tab')
    await typeInto('k-scopes', 'orders:read')
    await page.keyboard.press('Enter')
    await page.getByText('you will not see this again').waitFor()
    const secret = await page.locator('#secret-value').inputValue()
    expect(await verify(secret)).toMatchObject({ valid: true })
    const keys = (await api('GET', '/v1/keys?owner=svc:keyboard')).body.items
    expect(keys.map((k: { name: string }) => k.name)).toEqual(['typed without a mouse'])
  })

  it('on a 360 px phone: no sideways scrolling, one card per key, dark mode', async () => {
    const phone = await browser.newContext({
      viewport: { width: 360, height: 740 },
      colorScheme: 'dark',
      isMobile: true,
    })
    try {
      const p = await phone.newPage()
      await signIn(p, url, admin)
      await p.getByRole('link', { name: 'Keys', exact: true }).click()
      await p.locator('table.keys tbody tr').first().waitFor()
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360)
      const row = await p.locator('table.keys tbody tr').first().boundingBox()
      expect(row!.width).toBeLessThanOrEqual(360)
      // the cells are stacked, each under its label
      const cells = await p
        .locator('table.keys tbody tr')
        .first()
        .locator('td')
        .evaluateAll((tds) => tds.map((td) => td.getBoundingClientRect().top))
      expect(new Set(cells).size).toBe(cells.length)
      const background = await p.evaluate(
        () => getComputedStyle(document.documentElement).backgroundColor,
      )
      expect(background).toBe('rgb(17, 20, 24)')
      await expectAccessible(p, 'keys on a phone, dark')
      await screenshot(p, 'phone-keys-dark')
      // the theme chosen in the header wins over the system's
      await p.getByLabel('Theme').selectOption('light')
      await expect
        .poll(() => p.evaluate(() => getComputedStyle(document.documentElement).backgroundColor))
        .toBe('rgb(255, 255, 255)')
      await p.getByLabel('Theme').selectOption('system')
    } finally {
      await phone.close()
    }
  })

  it('pages through 10,000 keys with the API cursors, never loading them all', async () => {
    const db = new Database(join(dir, 'keyward.db'))
    const store = createSqliteStore({ db })
    const rows = Array.from({ length: 10_000 }, (_, i) => {
      const key = makeKey({
        name: `bulk ${String(i).padStart(5, '0')}`,
        ownerId: 'svc:bulk',
        createdAt: 1_800_000_000_000 + i,
      })
      return { key, secret: makeSecret(key.id) }
    })
    await store.insertKeys(rows)
    await store.close()
    const lists: string[] = []
    page.on('request', (r) => {
      if (r.url().includes('/v1/keys?')) lists.push(r.url())
    })
    await page.goto(`${url}/dashboard/keys`)
    await page.getByLabel('Owner').fill('svc:bulk')
    await page.getByLabel('Owner').press('Tab')
    const names = () => page.locator('table.keys tbody tr td:first-child a').allTextContents()
    await expect.poll(async () => (await names())[0]).toBe('bulk 09999')
    expect((await names()).length).toBe(50)
    await page.getByRole('button', { name: 'Next page' }).click()
    await expect.poll(async () => (await names())[0]).toBe('bulk 09949')
    expect((await names()).length).toBe(50)
    await page.getByRole('button', { name: 'Previous page' }).click()
    await expect.poll(async () => (await names())[0]).toBe('bulk 09999')
    for (const u of lists)
      expect(Number(new URL(u).searchParams.get('limit'))).toBeLessThanOrEqual(100)
    expect(lists.some((u) => new URL(u).searchParams.has('cursor'))).toBe(true)
    await screenshot(page, 'keys-10000')
  })

  it('ends the session when its admin key is revoked', async () => {
    const second = (await api('POST', '/v1/keys', { name: 'second admin', scopes: ['admin'] })).body
    const ctx = await browser.newContext()
    try {
      const p = await ctx.newPage()
      await signIn(p, url, second.key)
      await api('DELETE', `/v1/keys/${second.id}`)
      // the next call ends the session: ours, or the overview's own refresh if it comes first
      // (then the link is gone, the sign-in screen is up, and there is nothing to click)
      await p
        .getByRole('link', { name: 'Keys', exact: true })
        .click({ timeout: 5_000 })
        .catch(() => {})
      await p.getByText('The admin key of your session was revoked').waitFor()
      await p.getByLabel('Admin key').waitFor()
    } finally {
      await ctx.close()
    }
  })

  it('signs out: the old cookie no longer works', async () => {
    const [cookie] = await context.cookies(url)
    await page.goto(`${url}/dashboard/`)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByText('You signed out.').waitFor()
    const res = await fetch(`${url}/v1/keys`, {
      headers: { cookie: `${cookie!.name}=${cookie!.value}` },
    })
    expect(res.status).toBe(401)
    expect(await context.cookies(url)).toEqual([])
  })

  it('survives the server going away and coming back', async () => {
    await signIn(page, url, admin)
    const port = new URL(url).port
    await stopServe(serve)
    await page.getByRole('link', { name: 'Keys', exact: true }).click()
    await page.locator('.offline').waitFor()
    await screenshot(page, 'server-away')
    await start(port)
    // back: the banner goes, and the session (kept in the old process) is over
    await page.getByText('Your session ended').waitFor({ timeout: 15_000 })
    expect(await page.locator('.offline').count()).toBe(0)
    await signIn(page, url, admin)
    await page.getByRole('link', { name: 'Keys', exact: true }).click()
    await page.locator('table.keys tbody tr').first().waitFor()
    // nothing the page did broke the CSP or threw
    expect(w.problems).toEqual([])
  })
})
