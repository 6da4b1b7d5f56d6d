import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'

// Runs the BUILT command line (`npm run build`, which `npm test` does first) as a user would.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = join(ROOT, 'dist/cli/main.js')

interface Ran {
  line: string
  code: number
  stdout: string
  stderr: string
}

/** Runs one shell line with `npx keyward` meaning the built CLI, in `cwd`, with a bare environment. */
function sh(
  line: string,
  cwd: string,
  options: { stdin?: string; env?: Record<string, string> } = {},
): Ran {
  const command = line.replaceAll('npx keyward', `"${process.execPath}" "${BIN}"`)
  const r = spawnSync('bash', ['-c', command], {
    cwd,
    input: options.stdin ?? '',
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...options.env },
  })
  return { line, code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

/** The walkthrough lines of the README, exactly as a user pastes them. */
function walkthrough(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('<!-- walkthrough')
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start))
  if (start < 0 || !block) throw new Error('README.md has no walkthrough block')
  return block[1]!.trim().split('\n')
}

describe('the built keyward CLI', () => {
  beforeAll(() => {
    if (!existsSync(BIN))
      throw new Error(`${BIN} is missing: run npm run build first (npm test does)`)
  })

  it('--help works', () => {
    const r = sh('npx keyward --help', tmpdir())
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Usage: keyward [options] [command]')
    expect(sh('npx keyward keys create --help', tmpdir()).stdout).toContain('--expires <duration>')
  })

  it('runs the README walkthrough; only the create output ever contains the key', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'keyward-e2e-'))
    const lines = walkthrough()
    expect(lines[0]).toMatch(/^npx keyward keys create /)
    const created = sh(lines[0]!, cwd)
    expect(created.code).toBe(0)
    const key = /^ {4}(kw_live_[0-9A-Za-z]{49})$/m.exec(created.stdout)?.[1]
    const id = /^ {2}id +(key_[0-9A-Za-z]{16})$/m.exec(created.stdout)?.[1]
    expect(key).toBeDefined()
    expect(id).toBeDefined()
    expect(created.stderr).toContain('generated a development pepper')
    expect(existsSync(join(cwd, 'keyward.db'))).toBe(true)

    const ran: Ran[] = [created]
    for (const line of lines.slice(1)) {
      const r = sh(line.replaceAll('key_…', id!), cwd, {
        // `read -rs KEY` gets the pasted key; later lines see it as $KEY
        stdin: line.startsWith('read ') ? `${key}\n` : '',
        env: { KEY: key! },
      })
      ran.push(r)
      const expected = /exit code (\d)/.exec(line)?.[1] ?? '0'
      expect({ line, code: r.code, stderr: r.stderr }).toEqual({
        line,
        code: Number(expected),
        stderr: '',
      })
    }
    const verify = ran.find((r) => r.line.includes('verify --scope orders:read'))!
    expect(verify.stdout).toBe(
      `valid: key ${id} (billing), owner svc:billing, scopes orders:read\n`,
    )
    expect(ran.find((r) => r.line.includes('keys list'))!.stdout).toContain(
      `${id}  billing  svc:billing  active`,
    )
    expect(ran.at(-1)!.stdout).toBe(`denied: key_revoked, key ${id}\n`)

    const withKey = ran.flatMap((r) =>
      `${r.stdout}\n${r.stderr}`
        .split('\n')
        .filter((l) => l.includes(key!))
        .map((l) => ({ line: r.line, l })),
    )
    expect(withKey).toEqual([{ line: lines[0], l: `    ${key}` }])
  })

  it('a database copied without its pepper, or opened with another pepper, says why', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'keyward-e2e-'))
    const created = sh('npx keyward keys create --name copy --json', cwd)
    const { key } = JSON.parse(created.stdout) as { key: string }
    const elsewhere = mkdtempSync(join(tmpdir(), 'keyward-e2e-copy-'))
    copyFileSync(join(cwd, 'keyward.db'), join(elsewhere, 'keyward.db'))

    const copied = sh(`printf '%s\\n' "$KEY" | npx keyward keys verify`, elsewhere, {
      env: { KEY: key },
    })
    expect(copied.code).toBe(1)
    expect(copied.stdout).toBe('')
    expect(copied.stderr).toMatch(
      /^keyward: the database \.\/keyward\.db was created with a pepper that is not here .* copy the original .*keyward\.db\.pepper next to it or set KEYWARD_PEPPER to the original pepper\n$/,
    )

    const wrong = sh(`printf '%s\\n' "$KEY" | npx keyward keys verify`, cwd, {
      env: { KEY: key, KEYWARD_PEPPER: 'not-the-pepper-of-this-db-0123456789abcdef' },
    })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(
      /^keyward: the pepper v1 configured here is not the one this sqlite store was created with/,
    )
    for (const r of [copied, wrong]) expect(r.stdout + r.stderr).not.toContain(key)
  })

  it('an unreachable PostgreSQL is one line and exit 1', () => {
    const r = sh('npx keyward keys list --db postgres://postgres@127.0.0.1:1/test', tmpdir(), {
      env: { KEYWARD_PEPPER: 'e2e-pepper-0123456789abcdefghijklmnopqrstuv' },
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'keyward: cannot reach PostgreSQL at 127.0.0.1:1: connection refused (is PostgreSQL running and listening there?)\n',
    )
  })
})
