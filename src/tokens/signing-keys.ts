import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'
import { randomBase62 } from '../core/base62.js'
import { type Clock, systemClock } from '../core/clock.js'
import { KeywardError } from '../core/errors.js'
import type { SigningKeyRecord, Store } from '../core/types.js'
import { createKeyEncryption, type KeyEncryption, type SigningSecrets } from './key-encryption.js'
import {
  DEFAULT_ACTIVATION_DELAY_MS,
  PUBLICATION_AFTER_RETIREMENT_MS,
  SIGNING_ALG,
} from './limits.js'

/** A public key as published in the JWKS. */
export interface PublishedJwk {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  kid: string
  alg: 'EdDSA'
  use: 'sig'
}

/** The body of `GET /.well-known/jwks.json`. */
export interface PublishedJwks {
  /** Frozen. */
  keys: PublishedJwk[]
}

/** A key that may sign, decrypted. */
interface SigningKey {
  kid: string
  activatesAt: number
  retiredAt: number | null
  privateKey: CryptoKey
}

/** What one load of the store produced. */
interface KeyState {
  records: readonly SigningKeyRecord[]
  /** Keys not retired at load time, decrypted. */
  signers: readonly SigningKey[]
  published: ReadonlyMap<string, PublishedJwk>
}

const KID_RE = /^sk_[0-9A-Za-z]{16}$/

/** Generates a key pair and its stored record, the private key encrypted. */
export async function newSigningKeyRecord(
  encryption: KeyEncryption,
  createdAt: number,
  activatesAt: number,
): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, {
    crv: 'Ed25519',
    extractable: true,
  })
  const kid = `sk_${randomBase62(16)}`
  const pub = await exportJWK(publicKey)
  const priv = await exportJWK(privateKey)
  return {
    kid,
    alg: SIGNING_ALG,
    publicJwk: JSON.stringify({ kty: pub.kty, crv: pub.crv, x: pub.x }),
    encryptedPrivateKey: encryption.encrypt(kid, Buffer.from(JSON.stringify(priv), 'utf8')),
    createdAt,
    activatesAt,
    retiredAt: null,
  }
}

function corrupt(kid: string, what: string): KeywardError {
  return new KeywardError(
    'store_corrupt',
    `signing key ${JSON.stringify(kid)} in the store has ${what}: restore the signing keys from a backup, or rotate the key`,
  )
}

function publicJwkOf(record: SigningKeyRecord): PublishedJwk {
  if (!KID_RE.test(record.kid)) throw corrupt(record.kid, 'a malformed kid')
  if (record.alg !== SIGNING_ALG)
    throw corrupt(record.kid, `an unsupported algorithm ${record.alg}`)
  let jwk: JWK
  try {
    jwk = JSON.parse(record.publicJwk)
  } catch {
    throw corrupt(record.kid, 'a public key that is not JSON')
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || 'd' in jwk)
    throw corrupt(record.kid, 'a public key that is not an Ed25519 public JWK')
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: record.kid, alg: SIGNING_ALG, use: 'sig' }
}

async function decryptSigner(
  record: SigningKeyRecord,
  encryption: KeyEncryption,
): Promise<SigningKey> {
  const plaintext = encryption.decrypt(record.kid, record.encryptedPrivateKey)
  let jwk: JWK
  try {
    jwk = JSON.parse(Buffer.from(plaintext).toString('utf8'))
  } catch {
    throw corrupt(record.kid, 'a private key that is not JSON')
  }
  const pub = publicJwkOf(record)
  // the private key must belong to the published public key, or every token would fail
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || jwk.x !== pub.x || typeof jwk.d !== 'string')
    throw corrupt(record.kid, 'a private key that does not match its public key')
  const privateKey = (await importJWK(jwk, SIGNING_ALG)) as CryptoKey
  return {
    kid: record.kid,
    activatesAt: record.activatesAt,
    retiredAt: record.retiredAt,
    privateKey,
  }
}

/** Options of `createSigningKeyRing`. */
export interface SigningKeyRingOptions {
  store: Store
  encryption: KeyEncryption
  clock: Clock
  /** How often the keys are read again from the store. */
  reloadIntervalMs: number
  /** Called with each failed background reload; the previous keys stay in use. */
  onReloadError: (error: unknown) => void
}

/** The signing keys of one process, as last read from the store. */
export interface SigningKeyRing {
  /** The key to sign with now: the latest activated key that is not retired. */
  current(): SigningKey
  /** Public keys to publish now: unretired ones, and retired ones until their tokens expired. */
  jwks(): PublishedJwks
  /** Reads the keys again (a rotation made elsewhere); concurrent calls share one read. */
  reload(): Promise<void>
  close(): void
}

/**
 * Loads the signing keys, creating the first one when the store has none (race-safe: two
 * nodes starting together end with one key), and reloads them every `reloadIntervalMs`.
 *
 * A key that cannot be decrypted is an error (`signing_secret_mismatch`), never a reason to
 * create a new key: that would invalidate every token the other nodes sign.
 *
 * @throws KeywardError `signing_secret_mismatch`, `store_corrupt`, `store_unavailable`
 */
export async function createSigningKeyRing(
  options: SigningKeyRingOptions,
): Promise<SigningKeyRing> {
  const { store, encryption, clock, reloadIntervalMs, onReloadError } = options
  let state = await load()
  let pending: Promise<void> | null = null
  let jwksCache: { at: number; until: number; value: PublishedJwks } | null = null

  async function load(previous?: KeyState): Promise<KeyState> {
    let records = await store.listSigningKeys()
    if (!records.some((r) => r.retiredAt === null)) {
      const now = clock.now()
      await store.insertFirstSigningKey(await newSigningKeyRecord(encryption, now, now))
      records = await store.listSigningKeys()
    }
    // the JWKS lists the key that signs last first
    records = [...records].sort(
      (a, b) =>
        b.activatesAt - a.activatesAt || b.createdAt - a.createdAt || (a.kid < b.kid ? 1 : -1),
    )
    const now = clock.now()
    const published = new Map<string, PublishedJwk>()
    for (const r of records) published.set(r.kid, publicJwkOf(r))
    const known = new Map(previous?.signers.map((s) => [s.kid, s]))
    const signers: SigningKey[] = []
    for (const r of records) {
      if (r.retiredAt !== null && r.retiredAt <= now) continue
      const had = known.get(r.kid)
      // decrypt each key once per process; its retirement may have moved
      signers.push(
        had === undefined
          ? await decryptSigner(r, encryption)
          : { ...had, activatesAt: r.activatesAt, retiredAt: r.retiredAt },
      )
    }
    return { records, signers, published }
  }

  function reload(): Promise<void> {
    pending ??= load(state)
      .then((next) => {
        state = next
        jwksCache = null
      })
      .finally(() => {
        pending = null
      })
    return pending
  }

  const timer = setInterval(() => {
    reload().catch(onReloadError)
  }, reloadIntervalMs)
  timer.unref()

  return {
    current() {
      const now = clock.now()
      let best: SigningKey | undefined
      let soonest: SigningKey | undefined
      for (const s of state.signers) {
        if (s.retiredAt !== null && s.retiredAt <= now) continue
        if (s.activatesAt <= now) {
          if (best === undefined || s.activatesAt > best.activatesAt) best = s
        } else if (soonest === undefined || s.activatesAt < soonest.activatesAt) soonest = s
      }
      // A key not yet active is used only when no other may sign, e.g. the first key seen by
      // a node whose clock is behind the one that created it.
      const key = best ?? soonest
      if (key === undefined)
        throw new KeywardError(
          'store_unavailable',
          'no signing key may sign now and the store could not be read again: check the database connection',
        )
      return key
    },
    jwks() {
      const now = clock.now()
      if (jwksCache !== null && now >= jwksCache.at && now < jwksCache.until) return jwksCache.value
      const keys: PublishedJwk[] = []
      // the set changes when a retired key's publication ends: cache until the next such time
      let until = Number.POSITIVE_INFINITY
      for (const r of state.records) {
        const end = r.retiredAt === null ? null : r.retiredAt + PUBLICATION_AFTER_RETIREMENT_MS
        if (end !== null && end <= now) continue
        if (end !== null) until = Math.min(until, end)
        keys.push(state.published.get(r.kid)!)
      }
      const value: PublishedJwks = Object.freeze({ keys: Object.freeze(keys) as PublishedJwk[] })
      jwksCache = { at: now, until, value }
      return value
    },
    reload,
    close() {
      clearInterval(timer)
    },
  }
}

/** Options of `rotateSigningKey`. */
export interface RotateSigningKeyOptions {
  store: Store
  /** The secrets the nodes use (see `SigningSecrets`). */
  secrets: SigningSecrets
  clock?: Clock
  /**
   * How long the new key is published before it signs, so that verifiers caching the JWKS
   * learn it first. Default 60 s (longer than the reload interval of every node and the JWKS
   * refresh cooldown of keyward's verifiers); 0 switches at once.
   */
  activateInMs?: number
  /**
   * Rotate even when the keys that sign now cannot be decrypted with `encryption`: for a lost
   * secret. Without it that is refused, since the new key would be encrypted with a secret
   * the running nodes do not have.
   */
  force?: boolean
}

export interface RotatedSigningKey {
  kid: string
  activatesAt: number
  /** The keys that stop signing when the new one activates. */
  retiring: string[]
}

/**
 * Creates a new signing key that every node starts signing with at `now + activateInMs`; the
 * keys before it stop signing then and stay published until their last token has expired.
 * Keys retired longer ago than that are deleted.
 *
 * @example
 * const { kid, activatesAt } = await rotateSigningKey({ store, secrets: { peppers } })
 * @throws KeywardError `signing_secret_mismatch` (without `force`), `invalid_argument`,
 * `invalid_options` (secrets), `store_unavailable`
 */
export async function rotateSigningKey(
  options: RotateSigningKeyOptions,
): Promise<RotatedSigningKey> {
  const { store } = options
  const clock = options.clock ?? systemClock
  const encryption = createKeyEncryption(options.secrets)
  const activateInMs = options.activateInMs ?? DEFAULT_ACTIVATION_DELAY_MS
  if (!Number.isSafeInteger(activateInMs) || activateInMs < 0)
    throw new KeywardError(
      'invalid_argument',
      `"activateInMs" must be a whole number of ms >= 0, got ${activateInMs}`,
    )
  const now = clock.now()
  const live = (await store.listSigningKeys()).filter(
    (r) => r.retiredAt === null || r.retiredAt > now,
  )
  if (!options.force) {
    // proves that this secret is the one the nodes use before writing a key only it can read
    for (const r of live) await decryptSigner(r, encryption)
  }
  const record = await newSigningKeyRecord(encryption, now, now + activateInMs)
  await store.rotateSigningKey(record, now - PUBLICATION_AFTER_RETIREMENT_MS)
  return {
    kid: record.kid,
    activatesAt: record.activatesAt,
    retiring: live
      .filter((r) => r.retiredAt === null || r.retiredAt > record.activatesAt)
      .map((r) => r.kid),
  }
}
