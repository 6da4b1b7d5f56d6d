import { randomBytes } from 'node:crypto'
import { describe, it } from 'vitest'

/** Real service URLs for tests (DESIGN.md "Services"); undefined when not configured. */
export const TEST_POSTGRES_URL = process.env.KEYWARD_TEST_POSTGRES_URL || undefined
export const TEST_REDIS_URL = process.env.KEYWARD_TEST_REDIS_URL || undefined

const VARS = { postgres: 'KEYWARD_TEST_POSTGRES_URL', redis: 'KEYWARD_TEST_REDIS_URL' } as const

/**
 * `describe` for tests that need a real PostgreSQL or Redis. Without the service's URL the
 * suite is skipped with a visible line, except under CI, where the missing service fails.
 */
export function describeWithService(
  service: keyof typeof VARS,
  name: string,
  fn: (url: string) => void,
): void {
  const url = service === 'postgres' ? TEST_POSTGRES_URL : TEST_REDIS_URL
  if (url !== undefined) {
    describe(name, () => fn(url))
    return
  }
  if (process.env.CI) {
    describe(name, () => {
      it(`needs ${service}`, () => {
        throw new Error(
          `${VARS[service]} is not set: CI must run the ${service} tests against a real server`,
        )
      })
    })
    return
  }
  console.warn(
    `\n!!! SKIPPED "${name}": set ${VARS[service]} to run it against a real ${service}\n`,
  )
  // the body is still collected: give it a well-formed URL that no test will use
  describe.skip(name, () => fn(service === 'postgres' ? 'postgres://skipped/skipped' : 'redis://skipped'))
}

/** A name no other test run uses: for schemas, table and key prefixes. */
export function uniqueName(base: string): string {
  return `${base}_${process.pid}_${randomBytes(4).toString('hex')}`
}
