import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward keys import', () => {
  it('imports a UUID secret from stdin; it verifies; nothing prints it', async () => {
    const db = tempDb()
    const secret = randomUUID()
    const r = await runCli(
      ['keys', 'import', '--name', 'legacy', '--scope', 'orders:read', '--db', db.url],
      {
        stdin: `${secret}\n`,
        env,
      },
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^Imported the secret as key key_\S+ \(legacy\); only its keyed hash is stored\.$/m,
    )
    expect(r.stdout).toContain(`hint     ${secret.slice(0, 4)}…${secret.slice(-4)}`)
    expect(r.stdout + r.stderr).not.toContain(secret)
    const v = await runCli(['keys', 'verify', '--scope', 'orders:read', '--db', db.url], {
      stdin: secret,
      env,
    })
    expect(v.code).toBe(0)
  })

  it('refuses an empty stdin and a too short secret (exit 2), and a second import of one secret (exit 1)', async () => {
    const db = tempDb()
    const empty = await runCli(['keys', 'import', '--name', 'x', '--db', db.url], {
      stdin: '',
      env,
    })
    expect(empty.code).toBe(2)
    expect(empty.stderr).toBe(
      'keyward: no secret on stdin: pipe the existing secret in, e.g. printf %s "$OLD_KEY" | keyward keys import --name NAME\n',
    )
    const short = await runCli(['keys', 'import', '--name', 'x', '--db', db.url], {
      stdin: 'abc\n',
      env,
    })
    expect(short.code).toBe(2)
    expect(short.stderr).toBe(
      'keyward: the secret to import must be 16-256 visible ASCII characters without spaces (a keyward-shaped secret must also have a correct checksum)\n',
    )
    const secret = randomUUID()
    expect(
      (await runCli(['keys', 'import', '--name', 'x', '--db', db.url], { stdin: secret, env }))
        .code,
    ).toBe(0)
    const dup = await runCli(['keys', 'import', '--name', 'y', '--db', db.url], {
      stdin: secret,
      env,
    })
    expect(dup.code).toBe(1)
    expect(dup.stderr).toBe(
      'keyward: this secret is already stored for another key: import each secret once\n',
    )
  })

  it('checks the options before reading stdin', async () => {
    const r = await runCli(['keys', 'import', '--db', 'sqlite::memory:'], {
      stdin: randomUUID(),
      env,
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('keyward: --name is required: give the key a name, e.g. --name billing\n')
  })
})
