// Starts each example exactly as `npm run example:<framework>` does, on a free port with a
// temporary SQLite database and a pepper, creates keys with the library on the same file,
// and calls the routes DESIGN.md's "Examples" section promises.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { ChangeFeed } from '../../src/core/changes.js'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import type { Store } from '../../src/core/types.js'
import { createSqliteChangeFeed, openSqliteStore } from '../../src/stores/sqlite/index.js'
import { createTokenSigner } from '../../src/tokens/signer.js'
import { describeWithService, uniqueName } from '../helpers/services.js'

const ROOT = join(import.meta.dirname, '..', '..')
const FRAMEWORKS = ['node', 'express', 'fastify', 'hono'] as const
const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<
  string,
  string
>

let dir: string
let env: NodeJS.ProcessEnv
const keys = { reader: '', writer: '', limited: '' }
/** Access tokens from a signer on the same file, its JWKS served by `jwksServer`. */
const tokens = {
  reader: '',
  readerId: '',
  victims: new Map<string, { id: string; token: string }>(),
}
let jwksServer: Server
/** Publishes revocations to the examples through the file's change table. */
let admin: Keyward
let adminStore: Store
let adminFeed: ChangeFeed
const TOKEN_AUDIENCE = 'http://orders.example.test'

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-examples-'))
  const pepper = randomBytes(36).toString('base64')
  const file = join(dir, 'keyward.db')
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'development',
    PORT: '0',
    KEYWARD_DATABASE_URL: `sqlite:${file}`,
    KEYWARD_PEPPER: pepper,
  }
  const store = openSqliteStore(file)
  await store.migrate()
  const keyward = await createKeyward({ store, peppers: [{ version: 1, secret: pepper }] })
  keys.reader = (await keyward.createKey({ name: 'reader', scopes: ['orders:read'] })).key
  keys.writer = (await keyward.createKey({ name: 'writer', scopes: ['orders:*'] })).key
  // what `keyward keys create --scope orders:read --rate 2/1m` stores
  keys.limited = (
    await keyward.createKey({
      name: 'limited',
      scopes: ['orders:read'],
      rateLimits: [{ name: 'default', limit: 2, windowMs: 60_000 }],
    })
  ).key
  await keyward.close()
  await store.close()

  // keyward serve's side of tokens, in miniature: a signer on the file and its JWKS
  adminStore = openSqliteStore(file)
  adminFeed = createSqliteChangeFeed({ file })
  admin = await createKeyward({
    store: adminStore,
    peppers: [{ version: 1, secret: pepper }],
    changes: adminFeed,
  })
  let issuer = ''
  const signer = await createTokenSigner({
    store: adminStore,
    secrets: { peppers: [{ version: 1, secret: pepper }] },
    issuer: () => issuer,
  })
  jwksServer = createHttpServer((_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(signer.jwks()))
  })
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`
  const reader = await admin.createKey({ name: 'token reader', scopes: ['orders:read'] })
  const issue = async (keyId: string) =>
    (await signer.issueAccessToken({ keyId, scopes: ['orders:read'], audience: TOKEN_AUDIENCE }))
      .token
  tokens.reader = await issue(reader.record.id)
  tokens.readerId = reader.record.id
  for (const framework of FRAMEWORKS) {
    const victim = await admin.createKey({ name: `victim ${framework}`, scopes: ['orders:read'] })
    tokens.victims.set(framework, { id: victim.record.id, token: await issue(victim.record.id) })
  }
  signer.close()
  env.KEYWARD_TOKEN_ISSUER = issuer
  env.KEYWARD_TOKEN_AUDIENCE = TOKEN_AUDIENCE
})

afterAll(async () => {
  await new Promise((resolve) => jwksServer?.close(resolve))
  await admin?.close()
  await adminFeed?.close()
  await adminStore?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Runs the npm script's command directly (npm would not forward the stop signal). */
function spawnExample(framework: string, extraEnv: NodeJS.ProcessEnv): ChildProcess {
  const script = scripts[`example:${framework}`]
  expect(script).toBe(`node --import tsx examples/${framework}.ts`)
  const [, ...args] = script!.split(' ')
  return spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

async function startExample(
  framework: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; base: string }> {
  const child = spawnExample(framework, extraEnv)
  let output = ''
  const base = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(output)
      if (m) resolve(m[1]!)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) =>
      reject(new Error(`example:${framework} exited (${code}):\n${output}`)),
    )
  })
  return { child, base }
}

/** Runs an example that is expected to stop by itself, and returns what it printed. */
async function runExample(
  framework: string,
  extraEnv: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnExample(framework, extraEnv)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk
  })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stdout, stderr }
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  child.kill('SIGTERM')
  return exited
}

describe.each(FRAMEWORKS)('example:%s', (framework) => {
  it('serves /health open, /orders with the right scopes, and 429 past a rate limit', async () => {
    const { child, base } = await startExample(framework)
    try {
      const call = (method: string, key?: string, body?: unknown) =>
        fetch(`${base}${method === 'HEALTH' ? '/health' : '/orders'}`, {
          method: method === 'HEALTH' ? 'GET' : method,
          headers: {
            ...(key === undefined ? {} : { 'x-api-key': key }),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })

      expect((await call('HEALTH')).status).toBe(200)

      const missing = await call('GET')
      expect(missing.status).toBe(401)
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="keyward"')
      expect(((await missing.json()) as { code: string }).code).toBe('key_missing')

      const listed = await call('GET', keys.reader)
      expect(listed.status).toBe(200)
      expect(((await listed.json()) as { keyId: string }).keyId).toMatch(/^key_/)
      expect((await call('HEAD', keys.reader)).status).toBe(200)
      expect((await call('HEAD')).status).toBe(401)

      const bearer = await fetch(`${base}/orders`, {
        headers: { authorization: `Bearer ${keys.reader}` },
      })
      expect(bearer.status).toBe(200)

      const forbidden = await call('POST', keys.reader, { item: 'tea' })
      expect(forbidden.status).toBe(403)
      expect(((await forbidden.json()) as { missingScopes: string[] }).missingScopes).toEqual([
        'orders:write',
      ])

      const created = await call('POST', keys.writer, { item: 'tea', quantity: 3 })
      expect(created.status).toBe(201)
      expect(await created.json()).toMatchObject({ item: 'tea', quantity: 3 })

      // change the last character (the checksum's), whatever it was
      const invalid = await call(
        'GET',
        `${keys.reader.slice(0, -1)}${keys.reader.endsWith('x') ? 'y' : 'x'}`,
      )
      expect(invalid.status).toBe(401)
      expect(await invalid.text()).not.toContain(keys.reader.slice(8))

      // a key created with a rate limit of 2/1m, on the example's memory limiter
      expect(listed.headers.get('ratelimit')).toBeNull()
      const first = await call('GET', keys.limited)
      expect(first.status).toBe(200)
      expect(first.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60')
      expect(first.headers.get('ratelimit')).toMatch(/^"default";r=1;t=(29|30)$/)
      expect((await call('GET', keys.limited)).status).toBe(200)
      const refused = await call('GET', keys.limited)
      expect(refused.status).toBe(429)
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(refused.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60')
      expect(refused.headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+$/)
      expect(((await refused.json()) as { code: string }).code).toBe('rate_limited')

      // with KEYWARD_TOKEN_ISSUER set, access tokens count beside keys
      const withToken = (token: string, method = 'GET') =>
        fetch(`${base}/orders`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          ...(method === 'POST' ? { body: '{"item":"tea"}' } : {}),
        })
      const byToken = await withToken(tokens.reader)
      expect(byToken.status).toBe(200)
      expect(((await byToken.json()) as { keyId: string }).keyId).toBe(tokens.readerId)
      const tokenForbidden = await withToken(tokens.reader, 'POST')
      expect(tokenForbidden.status).toBe(403)
      expect(((await tokenForbidden.json()) as { code: string }).code).toBe('insufficient_scope')
      // revoked elsewhere: the example hears it on the file's change table and refuses the token
      const victim = tokens.victims.get(framework)!
      expect((await withToken(victim.token)).status).toBe(200)
      await admin.revokeKey(victim.id)
      let revoked: Response
      for (;;) {
        revoked = await withToken(victim.token)
        if (revoked.status !== 200) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(revoked.status).toBe(401)
      expect(((await revoked.json()) as { code: string }).code).toBe('token_revoked')
    } finally {
      expect(await stop(child)).toBe(0)
    }
  })
})

describe('the examples import what a user writes', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { types: string; default: string }>
    dependencies: Record<string, string>
    devDependencies: Record<string, string>
  }
  const tsconfig = ts.parseConfigFileTextToJson(
    'tsconfig.json',
    readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'),
  ).config as { compilerOptions: { paths: Record<string, string[]> } }
  /** `keyward/open` → `open/index`: the module path under dist/ (built) and src/ (paths). */
  const entries = new Map<string, string>()
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue // ./package.json
    const module = /^\.\/dist\/(.+)\.js$/.exec(target.default)?.[1] ?? target.default
    entries.set(`keyward${subpath.slice(1)}`, module)
  }

  it('tsconfig "paths" maps each entry point of package.json to its source, and no other', () => {
    for (const [name, module] of entries) {
      expect(pkg.exports[`.${name.slice('keyward'.length)}`], name).toEqual({
        types: `./dist/${module}.d.ts`,
        default: `./dist/${module}.js`,
      })
    }
    expect(tsconfig.compilerOptions.paths).toEqual(
      Object.fromEntries([...entries].map(([name, module]) => [name, [`./src/${module}.ts`]])),
    )
    for (const module of entries.values()) {
      expect(existsSync(join(ROOT, 'src', `${module}.ts`)), module).toBe(true)
      // npm test builds before it runs the tests
      expect(existsSync(join(ROOT, 'dist', `${module}.js`)), module).toBe(true)
      expect(existsSync(join(ROOT, 'dist', `${module}.d.ts`)), module).toBe(true)
    }
  })

  it('under vitest too, keyward/… is the source (resolve.tsconfigPaths), not a stale dist/', async () => {
    const fromName = await import('keyward/open')
    const fromSource = await import('../../src/open/index.js')
    expect(fromName.openKeyward).toBe(fromSource.openKeyward)
  })

  it('imports only keyward entry points, Node built-ins, packages and each other', () => {
    const files = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts'))
    expect(files).toEqual(expect.arrayContaining(FRAMEWORKS.map((f) => `${f}.ts`)))
    const packages = new Set([
      ...Object.keys(pkg.dependencies),
      ...Object.keys(pkg.devDependencies),
    ])
    const used = new Set<string>()
    for (const file of files) {
      const text = readFileSync(join(ROOT, 'examples', file), 'utf8')
      // `from '…'`, `import '…'` and `import('…')`
      for (const m of text.matchAll(/\b(?:from|import\(?)\s*'([^']+)'/g)) used.add(m[1]!)
    }
    for (const specifier of used) {
      const ok =
        entries.has(specifier) ||
        specifier.startsWith('node:') ||
        /^\.\/[a-z-]+\.js$/.test(specifier) ||
        packages.has(
          specifier.startsWith('@') ? specifier.split('/', 2).join('/') : specifier.split('/')[0]!,
        )
      expect(ok, `examples import ${specifier}`).toBe(true)
    }
    expect([...used].filter((s) => s.startsWith('keyward')).sort()).toEqual([
      'keyward',
      'keyward/express',
      'keyward/fastify',
      'keyward/hono',
      'keyward/limits',
      'keyward/node',
      'keyward/open',
      'keyward/tokens',
    ])
  })
})

describe.each(FRAMEWORKS)('example:%s that cannot start', (framework) => {
  it('says in one line which database it cannot open and what to do, and exits 1', async () => {
    const path = join(dir, 'a-directory')
    mkdirSync(path, { recursive: true })
    expect(await runExample(framework, { KEYWARD_DATABASE_URL: `sqlite:${path}` })).toEqual({
      code: 1,
      stdout: '',
      stderr: `keyward example: cannot start: cannot open SQLite database ${path}: it is a directory, not a file: name a file, e.g. sqlite:${join(path, 'keyward.db')}\n`,
    })
  })

  it('says in one line that its port is taken and what to do, and exits 1', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const taken = (holder.address() as AddressInfo).port
    try {
      expect(await runExample(framework, { PORT: String(taken) })).toEqual({
        code: 1,
        stdout: '',
        stderr: `keyward example: cannot listen on 127.0.0.1:${taken}: the port is already in use: stop the program that holds it, or set PORT to another port (PORT=0 picks a free one)\n`,
      })
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })
})

it('example:node refuses a PORT that is not a port, in one line', async () => {
  expect(await runExample('node', { PORT: '3000abc' })).toEqual({
    code: 1,
    stdout: '',
    stderr:
      'keyward example: PORT "3000abc" is not a port: set it to a whole number from 0 to 65535\n',
  })
})

describeWithService('redis', 'examples on Redis (KEYWARD_REDIS_URL)', (url) => {
  const prefix = uniqueName('kw_examples')
  let redis: Redis

  beforeAll(() => {
    redis = new Redis(url)
  })

  afterAll(async () => {
    const written = await redis.keys(`${prefix}:*`)
    if (written.length > 0) await redis.unlink(...written)
    await redis.quit()
  })

  it('two example servers share one limit through Redis', async () => {
    const redisEnv = { KEYWARD_REDIS_URL: url, KEYWARD_REDIS_PREFIX: prefix }
    const a = await startExample('fastify', redisEnv)
    try {
      const b = await startExample('node', redisEnv)
      try {
        const get = (base: string) =>
          fetch(`${base}/orders`, { headers: { 'x-api-key': keys.limited } })
        const first = await get(a.base)
        expect(first.status).toBe(200)
        expect(first.headers.get('ratelimit')).toMatch(/^"default";r=1;t=\d+$/)
        // the other process sees the same counter: with a memory limiter it would admit twice more
        expect((await get(b.base)).status).toBe(200)
        const refused = await get(a.base)
        expect(refused.status).toBe(429)
        expect(refused.headers.get('retry-after')).toMatch(/^\d+$/)
        expect(refused.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60')
        expect((await get(b.base)).status).toBe(429)
        const written = await redis.keys(`${prefix}:*`)
        expect(written.length).toBeGreaterThan(0)
        for (const name of written) {
          expect(name).not.toContain(keys.limited)
          expect(await redis.pttl(name)).toBeGreaterThan(0)
        }
      } finally {
        expect(await stop(b.child)).toBe(0)
      }
    } finally {
      expect(await stop(a.child)).toBe(0)
    }
  })
})
