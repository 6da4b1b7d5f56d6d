import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { generateKey } from '../../core/key-format.js'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

describe('keyward keys verify', () => {
  it('says valid with the key id (never the key) and exits 0', async () => {
    const db = tempDb()
    const { key, id } = await createTestKey(db.url, ['--owner', 'svc:a', '--scope', 'orders:read'])
    const r = await runCli(['keys', 'verify', '--db', db.url], { stdin: `${key}\n`, env })
    expect(r).toEqual({
      code: 0,
      stdout: `valid: key ${id} (test), owner svc:a, scopes orders:read\n`,
      stderr: '',
    })
  })

  it('checks --scope and names the missing scopes', async () => {
    const db = tempDb()
    const { key, id } = await createTestKey(db.url, ['--scope', 'orders:read'])
    const ok = await runCli(['keys', 'verify', '--scope', 'orders:read', '--db', db.url], {
      stdin: key,
      env,
    })
    expect(ok.code).toBe(0)
    const r = await runCli(
      ['keys', 'verify', '--scope', 'orders:write', '--json', '--db', db.url],
      {
        stdin: key,
        env,
      },
    )
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toEqual({
      valid: false,
      code: 'insufficient_scope',
      keyId: id,
      missingScopes: ['orders:write'],
    })
  })

  it('answers key_invalid for an unknown key, garbage and a key with extra whitespace', async () => {
    const db = tempDb()
    const { key } = await createTestKey(db.url)
    for (const stdin of [`${generateKey()}\n`, 'hello', `${key}\n\n`, ` ${key}`, `${key} `]) {
      const r = await runCli(['keys', 'verify', '--db', db.url], { stdin, env })
      expect(r).toEqual({ code: 1, stdout: 'denied: key_invalid\n', stderr: '' })
    }
  })

  it('removes exactly one trailing newline (LF or CRLF)', async () => {
    const db = tempDb()
    const { key } = await createTestKey(db.url)
    for (const stdin of [key, `${key}\n`, `${key}\r\n`]) {
      const r = await runCli(['keys', 'verify', '--db', db.url], { stdin, env })
      expect(r.code).toBe(0)
    }
  })

  it('answers key_missing for an empty stdin', async () => {
    const db = tempDb()
    await createTestKey(db.url)
    const r = await runCli(['keys', 'verify', '--json', '--db', db.url], { stdin: '', env })
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toEqual({ valid: false, code: 'key_missing', keyId: null })
  })

  it('--json on success', async () => {
    const db = tempDb()
    const { key, id } = await createTestKey(db.url, ['--scope', 'a:b'])
    const r = await runCli(['keys', 'verify', '--json', '--db', db.url], { stdin: key, env })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({
      valid: true,
      code: null,
      keyId: id,
      name: 'test',
      owner: null,
      scopes: ['a:b'],
    })
    expect(r.stdout).not.toContain(key)
  })

  it('does not create a database that does not exist', async () => {
    const db = tempDb()
    const r = await runCli(['keys', 'verify', '--db', db.url], { stdin: generateKey(), env })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      `keyward: there is no keyward database at ${db.path}: create one with "keyward keys create --name NAME" or "keyward migrate", or point --db / KEYWARD_DATABASE_URL at an existing one\n`,
    )
    expect(existsSync(db.path)).toBe(false)
  })

  it('refuses a bad --scope with exit 2', async () => {
    const r = await runCli(['keys', 'verify', '--scope', 'Orders'], { stdin: 'x', env })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^keyward: scope "Orders" is not valid: .*\n$/)
  })

  it('refuses a key given as an argument, without echoing it', async () => {
    const key = generateKey()
    const r = await runCli(['keys', 'verify', key], { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      `keyward: unexpected argument "kw_live_${key.slice(8, 12)}…${key.slice(-4)}" (see keyward keys verify --help)\n`,
    )
    expect(r.stderr).not.toContain(key)
  })
})
