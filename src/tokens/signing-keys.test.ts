import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { decodeProtectedHeader, SignJWT, importJWK } from 'jose'
import pg from 'pg'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  AUDIENCE,
  type FakeClock,
  fakeClock,
  ISSUER,
  KEY_ID,
  PEPPERS,
} from '../../test/fixtures/tokens.js'
import { describeWithService, uniqueName } from '../../test/helpers/services.js'
import { KeywardError } from '../core/errors.js'
import type { Store } from '../core/types.js'
import { createMemoryStore } from '../stores/memory/memory-store.js'
import { createPostgresStore } from '../stores/postgres/postgres-store.js'
import { createSqliteStore } from '../stores/sqlite/sqlite-store.js'
import { createKeyEncryption, type SigningSecrets } from './key-encryption.js'
import { PUBLICATION_AFTER_RETIREMENT_MS } from './limits.js'
import { createTokenSigner, type TokenSigner } from './signer.js'
import { rotateSigningKey } from './signing-keys.js'
import { createTokenVerifier } from './verify.js'

const MIN = 60_000
const OTHER_PEPPER = {
  peppers: [{ version: 1, secret: 'another-pepper-0123456789abcdefghijklmnop' }],
}

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  vi.useRealTimers()
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function signerOn(
  store: Store,
  clock: FakeClock,
  secrets: SigningSecrets = PEPPERS,
  extra: { reloadIntervalMs?: number; onReloadError?: (e: unknown) => void } = {},
): Promise<TokenSigner> {
  const s = await createTokenSigner({ store, secrets, issuer: ISSUER, clock, ...extra })
  cleanups.push(() => s.close())
  return s
}

const kidOf = async (s: TokenSigner): Promise<string> =>
  decodeProtectedHeader(
    await s.issueIdentityToken({ keyId: KEY_ID, scopes: [], audience: 'http://upstream.test' }),
  ).kid!

const published = (s: TokenSigner): string[] => s.jwks().keys.map((k) => k.kid)

function sqliteFile(): { path: string; open(): Promise<Store> } {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-tokens-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'keyward.db')
  return {
    path,
    async open() {
      const store = createSqliteStore({ db: new Database(path) })
      cleanups.push(() => store.close())
      await store.migrate()
      return store
    },
  }
}

describe('the first signing key', () => {
  it('is created on first use and published as an Ed25519 public JWK', async () => {
    const store = createMemoryStore()
    const s = await signerOn(store, fakeClock())
    const [record] = await store.listSigningKeys()
    expect(record).toMatchObject({ alg: 'EdDSA', retiredAt: null })
    expect(record!.kid).toMatch(/^sk_[0-9A-Za-z]{16}$/)
    expect(s.jwks()).toEqual({
      keys: [
        {
          kty: 'OKP',
          crv: 'Ed25519',
          x: JSON.parse(record!.publicJwk).x,
          kid: record!.kid,
          alg: 'EdDSA',
          use: 'sig',
        },
      ],
    })
    expect(await kidOf(s)).toBe(record!.kid)
  })

  it('is stored encrypted: the private key appears nowhere in the database files', async () => {
    const file = sqliteFile()
    const store = await file.open()
    await signerOn(store, fakeClock())
    const [record] = await store.listSigningKeys()
    expect(record!.encryptedPrivateKey).toMatch(/^kw1\.p1\./)
    const jwk = JSON.parse(
      Buffer.from(
        createKeyEncryption(PEPPERS).decrypt(record!.kid, record!.encryptedPrivateKey),
      ).toString(),
    )
    const d = Buffer.from(jwk.d, 'base64url')
    expect(d).toHaveLength(32)
    for (const f of [file.path, `${file.path}-wal`]) {
      if (!existsSync(f)) continue
      const bytes = readFileSync(f)
      expect(bytes.includes(d)).toBe(false)
      expect(bytes.includes(Buffer.from(jwk.d))).toBe(false)
    }
  })

  it('is one key when two nodes start together on one SQLite file', async () => {
    const file = sqliteFile()
    const clock = fakeClock()
    const [one, two] = [await file.open(), await file.open()]
    const [a, b] = await Promise.all([signerOn(one, clock), signerOn(two, clock)])
    expect(await one.listSigningKeys()).toHaveLength(1)
    expect(await kidOf(a)).toBe(await kidOf(b))
  })

  it('is never replaced when the secret is wrong: a clear error, the key stays', async () => {
    const store = createMemoryStore()
    const first = await signerOn(store, fakeClock())
    const kid = await kidOf(first)
    const e = await createTokenSigner({
      store,
      secrets: OTHER_PEPPER,
      issuer: ISSUER,
      clock: fakeClock(),
    }).catch((err: unknown) => err)
    expect(e).toBeInstanceOf(KeywardError)
    expect((e as KeywardError).code).toBe('signing_secret_mismatch')
    expect((e as KeywardError).message).toMatch(
      new RegExp(`^signing key ${kid} does not decrypt with the pepper v1: this is not the secret`),
    )
    expect((await store.listSigningKeys()).map((r) => r.kid)).toEqual([kid])
  })

  it('signs, on a node whose clock is behind, with a key that activates in its future', async () => {
    const store = createMemoryStore()
    const ahead = fakeClock()
    const kid = await kidOf(await signerOn(store, ahead))
    const behind = fakeClock(ahead.now() - 5000)
    expect(await kidOf(await signerOn(store, behind))).toBe(kid)
  })
})

describe('rotation', () => {
  it('publishes the new key first, switches every node at activation, keeps the old one published until its tokens expired', async () => {
    const store = createMemoryStore()
    const clock = fakeClock()
    const a = await signerOn(store, clock)
    const b = await signerOn(store, clock)
    const k0 = await kidOf(a)

    const rotated = await rotateSigningKey({ store, secrets: PEPPERS, clock })
    expect(rotated).toEqual({
      kid: expect.stringMatching(/^sk_/),
      activatesAt: clock.now() + MIN,
      retiring: [k0],
    })
    const k1 = rotated.kid
    await Promise.all([a.reload(), b.reload()])
    // published before it signs
    expect(published(a)).toEqual([k1, k0])
    expect(await kidOf(a)).toBe(k0)
    clock.advance(MIN - 1)
    expect(await kidOf(b)).toBe(k0)
    clock.advance(1)
    expect(await kidOf(a)).toBe(k1)
    expect(await kidOf(b)).toBe(k1)

    // k0 retired at activation; published until its last token (signed then) has expired
    clock.advance(PUBLICATION_AFTER_RETIREMENT_MS - 1)
    expect(published(a)).toEqual([k1, k0])
    clock.advance(1)
    expect(published(a)).toEqual([k1])
    expect(published(b)).toEqual([k1])
  })

  it('is picked up within the reload interval without a call', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const store = createMemoryStore()
    const clock = fakeClock()
    const s = await signerOn(store, clock, PEPPERS, { reloadIntervalMs: 5000 })
    const { kid } = await rotateSigningKey({ store, secrets: PEPPERS, clock, activateInMs: 0 })
    expect(await kidOf(s)).not.toBe(kid)
    await vi.advanceTimersByTimeAsync(5000)
    expect(await kidOf(s)).toBe(kid)
  })

  it('is picked up at once through reload(), the change feed hook', async () => {
    const store = createMemoryStore()
    const clock = fakeClock()
    const s = await signerOn(store, clock)
    const { kid } = await rotateSigningKey({ store, secrets: PEPPERS, clock, activateInMs: 0 })
    await s.reload()
    expect(await kidOf(s)).toBe(kid)
  })

  it('keeps signing with the keys it has when a reload fails, and reports it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const store = createMemoryStore()
    const errors: unknown[] = []
    const s = await signerOn(store, fakeClock(), PEPPERS, {
      reloadIntervalMs: 1000,
      onReloadError: (e) => errors.push(e),
    })
    const kid = await kidOf(s)
    await store.close()
    await vi.advanceTimersByTimeAsync(1000)
    expect(errors).toHaveLength(1)
    expect((errors[0] as KeywardError).code).toBe('store_unavailable')
    expect(await kidOf(s)).toBe(kid)
    await expect(s.reload()).rejects.toThrow('the memory store is closed')
  })

  it('refuses a secret that does not decrypt the current key, unless forced', async () => {
    const store = createMemoryStore()
    const clock = fakeClock()
    const kid = await kidOf(await signerOn(store, clock))
    const e = await rotateSigningKey({ store, secrets: OTHER_PEPPER, clock }).catch((x) => x)
    expect((e as KeywardError).code).toBe('signing_secret_mismatch')
    expect((await store.listSigningKeys()).map((r) => r.kid)).toEqual([kid])
    const forced = await rotateSigningKey({ store, secrets: OTHER_PEPPER, clock, force: true })
    expect((await store.listSigningKeys()).map((r) => r.kid).sort()).toEqual(
      [forced.kid, kid].sort(),
    )
  })

  it('moves from the pepper to a signing secret by rotating', async () => {
    const store = createMemoryStore()
    const clock = fakeClock()
    await signerOn(store, clock)
    const both: SigningSecrets = {
      ...PEPPERS,
      signingSecrets: [{ version: 1, secret: 'signing-secret-0123456789abcdefghijklmnop' }],
    }
    const { kid } = await rotateSigningKey({ store, secrets: both, clock, activateInMs: 0 })
    const stored = (await store.listSigningKeys()).find((r) => r.kid === kid)
    expect(stored!.encryptedPrivateKey).toMatch(/^kw1\.s1\./)
    expect(await kidOf(await signerOn(store, clock, both))).toBe(kid)
  })

  it('deletes keys whose publication has ended, at the next rotation', async () => {
    const store = createMemoryStore()
    const clock = fakeClock()
    const k0 = await kidOf(await signerOn(store, clock))
    const r1 = await rotateSigningKey({ store, secrets: PEPPERS, clock, activateInMs: 0 })
    clock.advance(PUBLICATION_AFTER_RETIREMENT_MS)
    const r2 = await rotateSigningKey({ store, secrets: PEPPERS, clock, activateInMs: 0 })
    const kids = async () => (await store.listSigningKeys()).map((r) => r.kid).sort()
    expect(await kids()).toEqual([r2.kid, r1.kid, k0].sort())
    clock.advance(1)
    const r3 = await rotateSigningKey({ store, secrets: PEPPERS, clock, activateInMs: 0 })
    expect(await kids()).toEqual([r3.kid, r2.kid, r1.kid].sort())
  })

  it('refuses a negative activation delay', async () => {
    const e = await rotateSigningKey({
      store: createMemoryStore(),
      secrets: PEPPERS,
      activateInMs: -1,
    }).catch((x) => x)
    expect((e as KeywardError).code).toBe('invalid_argument')
    expect((e as KeywardError).message).toBe(
      '"activateInMs" must be a whole number of ms >= 0, got -1',
    )
  })

  it('refuses, after the overlap, a token freshly made with the retired private key', async () => {
    const store = createMemoryStore()
    const clock = fakeClock()
    const s = await signerOn(store, clock)
    const [old] = await store.listSigningKeys()
    const oldKey = await importJWK(
      JSON.parse(
        Buffer.from(
          createKeyEncryption(PEPPERS).decrypt(old!.kid, old!.encryptedPrivateKey),
        ).toString(),
      ),
      'EdDSA',
    )
    await rotateSigningKey({ store, secrets: PEPPERS, clock, activateInMs: 0 })
    await s.reload()
    const verifier = createTokenVerifier({
      jwks: () => s.jwks(),
      issuer: ISSUER,
      audience: AUDIENCE,
      clock,
    })
    // a leaked retired key: tokens it makes now carry fresh times
    const forge = () => {
      const iat = Math.floor(clock.now() / 1000)
      return new SignJWT({ sub: KEY_ID, aud: AUDIENCE, client_id: KEY_ID, jti: 'x' })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: old!.kid })
        .setIssuer(ISSUER)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 300)
        .sign(oldKey)
    }
    clock.advance(PUBLICATION_AFTER_RETIREMENT_MS - 1000)
    await expect(verifier.verify(await forge())).resolves.toMatchObject({ keyId: KEY_ID })
    clock.advance(1000)
    await expect(verifier.verify(await forge())).rejects.toMatchObject({
      code: 'token_invalid',
      message:
        'no published key matches the token ("kid"): it was signed by an unknown key or one retired long ago',
    })
  })
})

describeWithService('postgres', 'signing keys on PostgreSQL', (url) => {
  it('ends with one key when three nodes start together, and all sign with it', async () => {
    const schema = uniqueName('kw_tokens')
    const stores = Array.from({ length: 3 }, () =>
      createPostgresStore({ pool: new pg.Pool({ connectionString: url, max: 2 }), schema }),
    )
    cleanups.push(async () => {
      for (const st of stores) await st.close()
      const admin = new pg.Client({ connectionString: url })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    })
    await stores[0]!.migrate()
    const clock = fakeClock()
    const signers = await Promise.all(stores.map((st) => signerOn(st, clock)))
    const kids = await Promise.all(signers.map(kidOf))
    expect(new Set(kids).size).toBe(1)
    expect(await stores[1]!.listSigningKeys()).toHaveLength(1)
    const { kid } = await rotateSigningKey({
      store: stores[2]!,
      secrets: PEPPERS,
      clock,
      activateInMs: 0,
    })
    await Promise.all(signers.map((s) => s.reload()))
    expect(await Promise.all(signers.map(kidOf))).toEqual([kid, kid, kid])
  })
})
