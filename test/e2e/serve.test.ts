// `keyward serve` as an operator runs it: `npm start`, the start-up line, the bootstrap admin
// key (once per store), and the request log (one JSON line per request, no credential in it).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/testing.js'
import {
  bootstrapKey,
  ROOT,
  requireBuild,
  SERVE_PEPPER,
  type ServeChild,
  spawnServe,
  stopServe,
  tempDir,
} from '../fixtures/serve-process.js'

beforeAll(requireBuild)

const cliEnv = { KEYWARD_PEPPER: SERVE_PEPPER }

async function startOn(db: string, extra: string[] = []): Promise<ServeChild & { base: string }> {
  const child = spawnServe(['--port', '0', '--db', db, ...extra], { cwd: tempDir() })
  const base = await child.listening()
  return Object.assign(child, { base })
}

function auth(key: string): { authorization: string } {
  return { authorization: `Bearer ${key}` }
}

describe('npm start', () => {
  it('runs keyward serve from the built CLI', async () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts
    expect(scripts.start).toBe('node dist/cli/main.js serve')
    const db = `sqlite:${join(tempDir(), 'keyward.db')}`
    // its own process group, so that the signal reaches npm's child too
    const npm = spawn('npm', ['start', '--', '--port', '0', '--db', db], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, KEYWARD_PEPPER: SERVE_PEPPER },
      detached: true,
    })
    let err = ''
    npm.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    const exited = new Promise((resolve) => npm.on('close', resolve))
    try {
      await new Promise<void>((resolve, reject) => {
        npm.stderr.on('data', () => {
          if (/keyward: listening on /.test(err)) resolve()
        })
        exited.then(() => reject(new Error(`npm start exited: ${err}`)))
      })
      const base = /listening on (http:\/\/\S+)/.exec(err)![1]!
      const admin = bootstrapKey(err)!
      expect((await fetch(`${base}/v1/keys`, { headers: auth(admin) })).status).toBe(200)
    } finally {
      process.kill(-npm.pid!, 'SIGTERM')
      await exited
    }
  })
})

describe('the bootstrap admin key', () => {
  it('is printed once, on stderr, with a curl line that works, and never logged', async () => {
    const db = `sqlite:${join(tempDir(), 'keyward.db')}`
    const first = await startOn(db)
    const admin = bootstrapKey(first.stderr())
    expect(admin).toBeDefined()
    const curl = /^ {4}curl -H "Authorization: Bearer (\S+)" (\S+)$/m.exec(first.stderr())
    expect(curl?.slice(1)).toEqual([admin, `${first.base}/v1/keys`])
    const list = await fetch(curl![2]!, { headers: auth(admin!) })
    expect(list.status).toBe(200)
    const keys = (await list.json()) as { items: { id: string; name: string; scopes: string[] }[] }
    expect(keys.items).toEqual([
      expect.objectContaining({ name: 'bootstrap admin', scopes: ['admin'] }),
    ])
    // the start-up line comes last: whoever waits for it finds the key printed already
    expect(first.stderr().trimEnd().split('\n').at(-1)).toMatch(/^keyward: listening on /)
    expect(await stopServe(first)).toBe(0)
    expect(first.stdout()).not.toContain(admin)

    const second = await startOn(db)
    expect(bootstrapKey(second.stderr())).toBeUndefined()
    expect(second.stderr()).not.toContain('no admin key')
    // revoked, it is still not replaced: the store remembers that it had one
    const revoked = await fetch(`${second.base}/v1/keys/${keys.items[0]!.id}`, {
      method: 'DELETE',
      headers: auth(admin!),
    })
    expect(revoked.status).toBe(200)
    expect(await stopServe(second)).toBe(0)
    const third = await startOn(db)
    expect(bootstrapKey(third.stderr())).toBeUndefined()
    expect(await stopServe(third)).toBe(0)
  })

  it('is printed by one of two nodes starting together on one database', async () => {
    const db = `sqlite:${join(tempDir(), 'keyward.db')}`
    const nodes = await Promise.all([startOn(db), startOn(db)])
    const printed = nodes.map((n) => bootstrapKey(n.stderr())).filter((k) => k !== undefined)
    expect(printed).toHaveLength(1)
    const list = await fetch(`${nodes[1]!.base}/v1/keys`, { headers: auth(printed[0]!) })
    expect(((await list.json()) as { items: unknown[] }).items).toHaveLength(1)
    expect(await Promise.all(nodes.map(stopServe))).toEqual([0, 0])
  })

  it('is not made when the store has an admin key already; keys create --scope admin makes one', async () => {
    const dir = tempDir()
    const db = `sqlite:${join(dir, 'keyward.db')}`
    const reader = await runCli(
      ['keys', 'create', '--name', 'reader', '--scope', 'keys:read', '--db', db, '--json'],
      { env: cliEnv },
    )
    expect(reader.code).toBe(0)
    const ops = await runCli(
      ['keys', 'create', '--name', 'ops', '--scope', 'admin', '--db', db, '--json'],
      { env: cliEnv },
    )
    expect(ops.code).toBe(0)
    const opsKey = (JSON.parse(ops.stdout) as { key: string }).key
    const node = await startOn(db)
    expect(bootstrapKey(node.stderr())).toBeUndefined()
    const created = await fetch(`${node.base}/v1/keys`, {
      method: 'POST',
      headers: { ...auth(opsKey), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'made by ops' }),
    })
    expect(created.status).toBe(201)
    expect(await stopServe(node)).toBe(0)
  })

  it('is made when the store holds keys but none may administer', async () => {
    const db = `sqlite:${join(tempDir(), 'keyward.db')}`
    const reader = await runCli(
      ['keys', 'create', '--name', 'reader', '--scope', 'keys:read', '--db', db],
      { env: cliEnv },
    )
    expect(reader.code).toBe(0)
    const node = await startOn(db)
    expect(bootstrapKey(node.stderr())).toBeDefined()
    expect(await stopServe(node)).toBe(0)
  })
})

describe('the request log', () => {
  it('is one JSON line per request, with the key id, and never holds a credential or a body', async () => {
    const db = `sqlite:${join(tempDir(), 'keyward.db')}`
    const node = await startOn(db, ['--log-level', 'trace'])
    const admin = bootstrapKey(node.stderr())!
    const adminId = /created: (key_[0-9A-Za-z]{16})/.exec(node.stderr())![1]
    const secrets = [admin]
    const json = { ...auth(admin), 'content-type': 'application/json' }

    const created = await fetch(`${node.base}/v1/keys`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ name: 'logged' }),
    })
    expect(created.status).toBe(201)
    secrets.push(((await created.json()) as { key: string }).key)

    const bogus = 'kw_live_ThisIsNotAKeyButLooksLikeOne0123456789abcdefgh'
    secrets.push(bogus)
    const calls: [string, RequestInit, number][] = [
      ['/v1/keys?limit=5', { headers: { 'x-api-key': admin } }, 200],
      [`/healthz?api_key=${bogus}`, {}, 200],
      ['/v1/keys', { headers: { authorization: `Bearer ${bogus}` } }, 401],
      // the verify API's body carries a key
      [
        '/v1/keys/verify',
        { method: 'POST', headers: json, body: JSON.stringify({ key: bogus }) },
        0,
      ],
      ['/v1/keys', { method: 'POST', headers: json, body: `{"name": "${bogus}` }, 400],
      [
        '/v1/keys',
        { method: 'POST', headers: json, body: JSON.stringify({ name: 'x', note: bogus }) },
        400,
      ],
    ]
    for (const [path, init, status] of calls) {
      const r = await fetch(`${node.base}${path}`, init)
      if (status !== 0) expect(r.status).toBe(status)
      await r.arrayBuffer()
    }
    expect(await stopServe(node)).toBe(0)

    const requests = node.logs().filter((l) => l.msg === 'request')
    expect(requests).toHaveLength(calls.length + 1)
    expect(requests[0]).toMatchObject({
      method: 'POST',
      url: '/v1/keys',
      status: 201,
      keyId: adminId,
      ms: expect.any(Number),
    })
    expect(requests[1]).toMatchObject({
      url: '/v1/keys?limit=5',
      keyId: adminId,
      headers: expect.objectContaining({ 'x-api-key': '[REDACTED]' }),
    })
    expect(requests[2]).toMatchObject({ url: '/healthz?api_key=[REDACTED]', status: 200 })
    expect(requests[3]).toMatchObject({
      status: 401,
      headers: expect.objectContaining({ authorization: 'Bearer [REDACTED]' }),
    })
    expect(requests[3]).not.toHaveProperty('keyId')
    // stderr holds the bootstrap key, shown to the operator once; nothing else anywhere
    for (const secret of secrets) expect(node.stdout()).not.toContain(secret)
    for (const secret of secrets.slice(1)) expect(node.stderr()).not.toContain(secret)
    expect(node.stdout() + node.stderr()).not.toContain('ThisIsNotAKey')
  })
})
