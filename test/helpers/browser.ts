// Real Chromium for the dashboard's tests: Debian's /usr/bin/chromium driven by playwright-core
// (no browser is ever downloaded). Without it the tests skip with a visible line, except under
// CI, where .ci/run installs it and a missing browser fails the run.
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { describe, expect } from 'vitest'

export const CHROMIUM = '/usr/bin/chromium'

/** Where screenshots go (gitignored). */
export const OUTPUT_DIR = join(import.meta.dirname, '..', '..', 'test-output', 'dashboard')

/** `describe` when Chromium is there; a loud skip (or, under CI, a failure) when not. */
export function describeWithBrowser(name: string, body: () => void): void {
  if (existsSync(CHROMIUM)) {
    describe(name, body)
    return
  }
  if (process.env.CI) {
    describe(name, () => {
      throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`)
    })
    return
  }
  console.warn(`SKIPPED ${name}: ${CHROMIUM} is missing (apt-get install -y chromium)`)
  describe.skip(name, body)
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}

export interface Watched {
  page: Page
  /** Every URL the page requested. */
  urls: string[]
  /** Script errors and CSP violations the page reported. */
  problems: string[]
}

/** A page that records its requests, script errors and CSP violations. */
export async function watchedPage(context: BrowserContext): Promise<Watched> {
  const page = await context.newPage()
  const urls: string[] = []
  const problems: string[] = []
  page.on('request', (r) => urls.push(r.url()))
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) problems.push(`csp: ${m.text()}`)
  })
  return { page, urls, problems }
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(OUTPUT_DIR, { recursive: true })
  await page.screenshot({ path: join(OUTPUT_DIR, `${name}.png`), fullPage: true })
}

export async function signIn(page: Page, baseUrl: string, key: string): Promise<void> {
  await page.goto(`${baseUrl}/dashboard/`)
  await page.getByLabel('Admin key').fill(key)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page
    .getByRole('heading', { name: 'Overview', level: 1 })
    .waitFor({ timeout: 10_000 })
    .catch(async (error: unknown) => {
      await screenshot(page, 'sign-in-failed')
      throw error
    })
}

const require = createRequire(import.meta.url)
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')

interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: { target: string[] }[]
}

/**
 * Runs axe-core in the page (through the DevTools protocol: the page's CSP stays on) and fails
 * on serious or critical violations, naming them.
 */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  await page.evaluate(AXE_SOURCE)
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe
    const result = await axe.run(document, { resultTypes: ['violations'] })
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }))
  })
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  expect(serious, `${what}: ${JSON.stringify(serious, null, 1)}`).toEqual([])
}
