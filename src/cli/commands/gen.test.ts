import { describe, expect, it } from 'vitest'
import { classifyCredential } from '../../core/key-format.js'
import { runCli } from '../testing.js'

describe('keyward gen', () => {
  it('prints a fresh keyward key with a valid checksum, offline', async () => {
    const r = await runCli(['gen'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^kw_live_[0-9A-Za-z]{49}\n$/)
    expect(classifyCredential(r.stdout.trim())).toBe('keyward')
    const other = await runCli(['gen'])
    expect(other.stdout).not.toBe(r.stdout)
  })

  it('takes --prefix and --format uuid', async () => {
    const p = await runCli(['gen', '--prefix', 'acme_test'])
    expect(p.stdout).toMatch(/^acme_test_[0-9A-Za-z]{49}\n$/)
    const u = await runCli(['gen', '--format', 'uuid', '--json'])
    expect(JSON.parse(u.stdout)).toMatchObject({
      format: 'uuid',
      key: expect.stringMatching(/^[0-9a-f-]{36}$/),
    })
  })

  it('refuses bad usage with exit 2', async () => {
    const cases: [string[], string][] = [
      [
        ['--prefix', 'ACME'],
        'keyward: --prefix "ACME" is not valid: use 1-16 lowercase letters or digits starting with a letter, optionally followed by _ and 1-16 more (e.g. "kw_live", "acme_test")',
      ],
      [['--format', 'hex'], 'keyward: --format "hex" is not valid: use keyward or uuid'],
      [
        ['--format', 'uuid', '--prefix', 'kw'],
        'keyward: --prefix does not apply to --format uuid: UUID keys have no prefix',
      ],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(['gen', ...args])
      expect(r).toEqual({ code: 2, stdout: '', stderr: `${message}\n` })
    }
  })
})
