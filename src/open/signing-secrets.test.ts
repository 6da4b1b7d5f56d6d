import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openKeyward } from './open-keyward.js'
import { signingSecretFromEnv } from './signing-secrets.js'

const SECRET = 'signing-test-secret-0123456789abcdefghijklmn'
const PEPPER = 'open-test-pepper-0123456789abcdefghijklmnop'
const tmp = (): string => mkdtempSync(join(tmpdir(), 'keyward-signing-'))

describe('signing secret loading', () => {
  it('reads KEYWARD_SIGNING_SECRET (versioned like the pepper) or a 0600 KEYWARD_SIGNING_SECRET_FILE', () => {
    expect(signingSecretFromEnv({})).toBeNull()
    expect(signingSecretFromEnv({ KEYWARD_SIGNING_SECRET: `v2:${SECRET}x,v1:${SECRET}` })).toEqual({
      secrets: [
        { version: 2, secret: `${SECRET}x` },
        { version: 1, secret: SECRET },
      ],
      source: 'KEYWARD_SIGNING_SECRET',
    })
    const file = join(tmp(), 'signing')
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 })
    expect(signingSecretFromEnv({ KEYWARD_SIGNING_SECRET_FILE: file })).toEqual({
      secrets: [{ version: 1, secret: SECRET }],
      source: 'KEYWARD_SIGNING_SECRET_FILE',
    })
  })

  it('refuses both at once, an empty path, a readable file, a weak or unversioned list', () => {
    const shared = join(tmp(), 'shared')
    writeFileSync(shared, SECRET, { mode: 0o644 })
    expect(() => signingSecretFromEnv({ KEYWARD_SIGNING_SECRET_FILE: shared })).toThrow(
      `KEYWARD_SIGNING_SECRET_FILE ${shared} is accessible by other users (mode 0644)`,
    )
    expect(() => signingSecretFromEnv({ KEYWARD_SIGNING_SECRET_FILE: ' ' })).toThrow(
      'KEYWARD_SIGNING_SECRET_FILE is set but empty: give a file path',
    )
    expect(() =>
      signingSecretFromEnv({ KEYWARD_SIGNING_SECRET: SECRET, KEYWARD_SIGNING_SECRET_FILE: shared }),
    ).toThrow('both KEYWARD_SIGNING_SECRET and KEYWARD_SIGNING_SECRET_FILE are set')
    expect(() => signingSecretFromEnv({ KEYWARD_SIGNING_SECRET: 'ab'.repeat(20) })).toThrow(
      'KEYWARD_SIGNING_SECRET has too little entropy: only 2 different characters, and a signing secret needs at least 8',
    )
    expect(() => signingSecretFromEnv({ KEYWARD_SIGNING_SECRET: `${SECRET},${SECRET}x` })).toThrow(
      'KEYWARD_SIGNING_SECRET lists several signing secrets: write each as v<N>:<secret>',
    )
  })

  it('is handed over by openKeyward with the pepper, before any database is opened', async () => {
    const dir = tmp()
    const url = `sqlite:${join(dir, 'k.db')}`
    const withSecret = await openKeyward({
      databaseUrl: url,
      env: { KEYWARD_PEPPER: PEPPER, KEYWARD_SIGNING_SECRET: SECRET },
    })
    expect(withSecret.signingSecrets).toEqual({
      signingSecrets: [{ version: 1, secret: SECRET }],
      peppers: [{ version: 1, secret: PEPPER }],
    })
    expect(withSecret.signingSecretSource).toBe('KEYWARD_SIGNING_SECRET')
    await withSecret.close()
    const without = await openKeyward({ databaseUrl: url, env: { KEYWARD_PEPPER: PEPPER } })
    expect(without.signingSecrets).toEqual({ peppers: [{ version: 1, secret: PEPPER }] })
    expect(without.signingSecretSource).toBe('pepper')
    await without.close()
    await expect(
      openKeyward({
        databaseUrl: `sqlite:${join(dir, 'never.db')}`,
        env: { KEYWARD_PEPPER: PEPPER, KEYWARD_SIGNING_SECRET: 'short' },
      }),
    ).rejects.toMatchObject({ code: 'invalid_options' })
    expect(existsSync(join(dir, 'never.db'))).toBe(false)
  })
})
