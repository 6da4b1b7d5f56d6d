import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../stores/sqlite/sqlite-store.js'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }
const S1 = 'signing-secret-one-0123456789abcdefghijklmnop'
const S2 = 'signing-secret-two-0123456789abcdefghijklmnop'

async function storedKeys(path: string) {
  const store = createSqliteStore({ db: new Database(path) })
  try {
    return await store.listSigningKeys()
  } finally {
    await store.close()
  }
}

describe('keyward tokens rotate-signing-key', () => {
  it('adds a key that signs after the delay and retires the current one', async () => {
    const db = tempDb()
    await createTestKey(db.url)
    const first = await runCli(
      ['tokens', 'rotate-signing-key', '--json', '--activate-in', '0', '--db', db.url],
      { env },
    )
    expect(first.code).toBe(0)
    const k0 = JSON.parse(first.stdout)
    expect(k0).toEqual({
      kid: expect.stringMatching(/^sk_[0-9A-Za-z]{16}$/),
      activatesAt: expect.any(String),
      retiring: [],
      retiringPublishedUntil: expect.any(String),
    })
    const before = Date.now()
    const second = await runCli(['tokens', 'rotate-signing-key', '--db', db.url], { env })
    expect(second.code).toBe(0)
    const lines = second.stdout.trim().split('\n')
    expect(lines[0]).toMatch(
      /^New token signing key sk_[0-9A-Za-z]{16}: published in the JWKS now, signing from \S+ \S+ \(in 1m\) on every node\.$/,
    )
    expect(lines[1]).toMatch(
      new RegExp(
        `^${k0.kid} stops signing then and stays published until \\S+ \\S+ \\(in 1h\\), when every token signed with it has expired\\.$`,
      ),
    )
    const keys = await storedKeys(db.path)
    expect(keys).toHaveLength(2)
    const k1 = keys.find((k) => k.kid !== k0.kid)!
    expect(k1.activatesAt - before).toBeGreaterThanOrEqual(60_000)
    expect(keys.find((k) => k.kid === k0.kid)!.retiredAt).toBe(k1.activatesAt)
    expect(second.stderr).toBe('')
  })

  it('refuses a secret that does not decrypt the current key (exit 1) unless --force', async () => {
    const db = tempDb()
    await createTestKey(db.url)
    expect(
      (
        await runCli(['tokens', 'rotate-signing-key', '--db', db.url], {
          env: { ...env, KEYWARD_SIGNING_SECRET: S1 },
        })
      ).code,
    ).toBe(0)
    const wrong = { ...env, KEYWARD_SIGNING_SECRET: S2 }
    const r = await runCli(['tokens', 'rotate-signing-key', '--db', db.url], { env: wrong })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /^keyward: signing key sk_[0-9A-Za-z]{16} does not decrypt with KEYWARD_SIGNING_SECRET v1: this is not the secret it was encrypted with\. Give every node the same KEYWARD_SIGNING_SECRET \(docs\/tokens\.md, "Changing the secret"\)\n$/,
    )
    expect(await storedKeys(db.path)).toHaveLength(1)
    const forced = await runCli(['tokens', 'rotate-signing-key', '--force', '--db', db.url], {
      env: wrong,
    })
    expect(forced.code).toBe(0)
    expect(await storedKeys(db.path)).toHaveLength(2)
  })

  it('answers bad usage with exit 2 and a missing database with exit 1', async () => {
    const db = tempDb()
    const missing = await runCli(['tokens', 'rotate-signing-key', '--db', db.url], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^keyward: there is no keyward database at /)
    await createTestKey(db.url)
    const bad = await runCli(
      ['tokens', 'rotate-signing-key', '--activate-in', 'soon', '--db', db.url],
      { env },
    )
    expect(bad).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'keyward: --activate-in "soon" is not a duration: use a positive whole number and a unit (ms, s, m, h, d, w, y), e.g. "90d", "24h", "15m"\n',
    })
    const both = await runCli(['tokens', 'rotate-signing-key', '--db', db.url], {
      env: { ...env, KEYWARD_SIGNING_SECRET: S1, KEYWARD_SIGNING_SECRET_FILE: '/nowhere' },
    })
    expect(both.code).toBe(2)
    expect(both.stderr).toBe(
      'keyward: both KEYWARD_SIGNING_SECRET and KEYWARD_SIGNING_SECRET_FILE are set: set only one of them\n',
    )
    const weak = await runCli(['tokens', 'rotate-signing-key', '--db', db.url], {
      env: { ...env, KEYWARD_SIGNING_SECRET: 'short' },
    })
    expect(weak.code).toBe(2)
    expect(weak.stderr).toMatch(
      /^keyward: KEYWARD_SIGNING_SECRET is 5 characters long: use at least 32/,
    )
    expect(await storedKeys(db.path)).toEqual([])
  })
})
