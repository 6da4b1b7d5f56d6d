import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateKey, keyHint } from '../../core/key-format.js'
import { createTestKey, runCli, TEST_PEPPER, tempDb } from '../testing.js'

const env = { KEYWARD_PEPPER: TEST_PEPPER }

/** A keyward-shaped string whose checksum is wrong. */
function badChecksum(key: string): string {
  const last = key.at(-1) === 'a' ? 'b' : 'a'
  return key.slice(0, -1) + last
}

describe('keyward scan', () => {
  it('finds keys in files and directories, prints file:line:column and the hint only, exits 1', async () => {
    const { dir } = tempDb()
    const key = generateKey()
    const fake = badChecksum(generateKey({ prefix: 'kw_test' }))
    mkdirSync(join(dir, 'src'))
    mkdirSync(join(dir, 'node_modules'))
    mkdirSync(join(dir, '.git'))
    writeFileSync(join(dir, 'src', 'config.ts'), `const a = 1\nexport const key = '${key}'\n`)
    writeFileSync(join(dir, 'notes.md'), `not a key: ${fake}\n`)
    writeFileSync(join(dir, 'node_modules', 'x.js'), key)
    writeFileSync(join(dir, '.git', 'y'), key)
    writeFileSync(join(dir, 'blob.bin'), Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(key)]))
    const r = await runCli(['scan', dir], { env })
    expect(r.code).toBe(1)
    expect(r.stdout).toBe(
      [
        `${join(dir, 'src', 'config.ts')}:2:21  ${keyHint(key)}`,
        '',
        'Probably not keys (key-shaped, but the checksum does not match):',
        `  ${join(dir, 'notes.md')}:1:12  ${keyHint(fake)}`,
        '',
        'Found 1 keyward key in 1 file: remove it from the files, and revoke or rotate it (keyward keys rotate ID).',
        '',
      ].join('\n'),
    )
    expect(r.stderr).toBe('keyward: skipped 1 file(s) (binary, over 10 MiB or unreadable)\n')
    expect(r.stdout + r.stderr).not.toContain(key)
  })

  it('exits 0 when clean', async () => {
    const { dir } = tempDb()
    writeFileSync(join(dir, 'a.txt'), 'nothing here kw_live_short\n')
    const r = await runCli(['scan', dir, join(dir, 'a.txt')], { env })
    expect(r).toEqual({ code: 0, stdout: 'No keyward keys found in 2 files.\n', stderr: '' })
  })

  it('with a database, says which key each match is and whether it still works', async () => {
    const db = tempDb()
    const live = await createTestKey(db.url)
    const gone = await createTestKey(db.url)
    await runCli(['keys', 'revoke', gone.id, '--db', db.url], { env })
    const stranger = generateKey()
    const file = join(db.dir, 'leak.env')
    writeFileSync(file, `A=${live.key}\nB=${gone.key}\nC=${stranger}\n`)
    const r = await runCli(['scan', file, '--db', db.url], { env })
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n').slice(0, 3)).toEqual([
      `${file}:1:3  ${keyHint(live.key)}  ${live.id} active`,
      `${file}:2:3  ${keyHint(gone.key)}  ${gone.id} revoked`,
      `${file}:3:3  ${keyHint(stranger)}  not in this database`,
    ])
    const json = await runCli(['scan', file, '--json', '--db', db.url], { env })
    expect(JSON.parse(json.stdout).keys[0]).toEqual({
      file,
      line: 1,
      column: 3,
      hint: keyHint(live.key),
      checksumOk: true,
      keyId: live.id,
      status: 'active',
    })
    for (const k of [live.key, gone.key, stranger]) expect(r.stdout + json.stdout).not.toContain(k)
  })

  it('without --db, consults ./keyward.db of its working directory when there is one', async () => {
    const db = tempDb()
    const live = await createTestKey(db.url)
    const file = join(db.dir, 'leak.env')
    writeFileSync(file, `A=${live.key}\n`)
    const r = await runCli(['scan', file], { env, cwd: db.dir })
    expect(r).toEqual({
      code: 1,
      stdout: `${file}:1:3  ${keyHint(live.key)}  ${live.id} active\n\nFound 1 keyward key in 1 file: remove it from the files, and revoke or rotate it (keyward keys rotate ID).\n`,
      stderr: '',
    })
    // the same file seen from another directory: no database there, so no key ids
    const elsewhere = await runCli(['scan', file], { env })
    expect(elsewhere.stdout).toContain(`${file}:1:3  ${keyHint(live.key)}\n`)
    expect(elsewhere.stdout).not.toContain(live.id)
  })

  it('refuses a path that does not exist (exit 2)', async () => {
    const r = await runCli(['scan', '/nonexistent/keyward-scan'], { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'keyward: "/nonexistent/keyward-scan" does not exist: give files or directories to scan\n',
    )
  })
})
