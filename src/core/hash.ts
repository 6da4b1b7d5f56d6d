import { createHash, hash as digestOnce } from 'node:crypto'
import { KeywardError } from './errors.js'

/** One pepper: the HMAC key secrets are hashed with, and its version number. */
export interface Pepper {
  version: number
  secret: string
}

/** Peppers shorter than this are refused: the pepper is what makes a stolen table useless. */
export const MIN_PEPPER_LENGTH = 32

/**
 * Peppers with fewer different characters than this are refused, whatever their length: a
 * run of one character or a short pattern repeated (`aaaa…`, `abab…`, `changeme…`) has far
 * less entropy than its length suggests. Random peppers clear it with room to spare: 32 hex
 * digits (`openssl rand -hex 16`) hold fewer than 8 different ones about once in 30 million.
 */
export const MIN_PEPPER_DISTINCT_CHARACTERS = 8

const GENERATE_HINT = 'e.g. openssl rand -base64 48'

/**
 * Refuses a pepper secret that is too short or has too little entropy (the rule above), with
 * a message that starts with `what` (`pepper v2`, `KEYWARD_PEPPER`) and never shows the secret.
 *
 * @throws KeywardError `invalid_options`
 */
export function checkPepperSecret(secret: string, what: string, noun = 'pepper'): void {
  if (secret.length < MIN_PEPPER_LENGTH) {
    throw new KeywardError(
      'invalid_options',
      `${what} is ${secret.length} characters long: use at least ${MIN_PEPPER_LENGTH} random characters (${GENERATE_HINT})`,
    )
  }
  const distinct = new Set(secret).size
  if (distinct < MIN_PEPPER_DISTINCT_CHARACTERS) {
    throw new KeywardError(
      'invalid_options',
      `${what} has too little entropy: only ${distinct} different character${distinct === 1 ? '' : 's'}, and a ${noun} needs at least ${MIN_PEPPER_DISTINCT_CHARACTERS}: use a random secret (${GENERATE_HINT})`,
    )
  }
}

const CHECK_MESSAGE = 'keyward pepper check v1'

/** A resolved pepper set: the newest signs new secrets, all of them can verify. */
export interface Hasher {
  /** Version used for new secrets (the highest). */
  readonly currentVersion: number
  /** Versions, newest first. */
  readonly versions: readonly number[]
  /** `HMAC-SHA256(pepper, secret)` as base64url, with the pepper of `version`. */
  hash(secret: string, version?: number): string
  /** A value stored once per pepper version so that a wrong pepper is detected, not silent. */
  checkValue(version: number): string
}

/**
 * Parses a pepper setting: one secret (version 1), or a comma- or newline-separated list of
 * `v<N>:<secret>` entries (e.g. `v2:newsecret,v1:oldsecret`) for pepper rotation.
 *
 * Each secret must pass `checkPepperSecret`.
 *
 * @throws KeywardError `invalid_options` naming what is wrong (never the pepper itself)
 */
export function parsePeppers(
  text: string,
  source = 'KEYWARD_PEPPER',
  /** What the secrets are called in messages (`signing secret` for KEYWARD_SIGNING_SECRET). */
  noun = 'pepper',
): Pepper[] {
  const parts = text
    .split(/[,\n]/)
    .map((p) => p.trim())
    .filter((p) => p !== '')
  if (parts.length === 0) {
    throw new KeywardError(
      'invalid_options',
      `${source} is empty: set it to a random secret of at least ${MIN_PEPPER_LENGTH} characters (${GENERATE_HINT})`,
    )
  }
  const versioned = /^v(\d{1,6}):(.*)$/
  const peppers = parts.map((part): Pepper => {
    const m = versioned.exec(part)
    if (!m && parts.length > 1) {
      throw new KeywardError(
        'invalid_options',
        `${source} lists several ${noun}s: write each as v<N>:<secret>, e.g. "v2:…,v1:…"`,
      )
    }
    const pepper = m ? { version: Number(m[1]), secret: m[2]! } : { version: 1, secret: part }
    // checked here too, so that the setting is named and a bad one is refused before any
    // database is opened or created
    checkPepperSecret(pepper.secret, m ? `${source} v${pepper.version}` : source, noun)
    return pepper
  })
  return peppers
}

/**
 * Builds the hasher for a pepper set.
 *
 * @example
 * const hasher = createHasher([{ version: 1, secret: process.env.KEYWARD_PEPPER! }])
 * @throws KeywardError `invalid_options` for short, weak (`checkPepperSecret`), duplicate or missing peppers
 */
export function createHasher(peppers: readonly Pepper[]): Hasher {
  if (peppers.length === 0) {
    throw new KeywardError(
      'invalid_options',
      'no pepper given: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE',
    )
  }
  const keys = new Map<number, Hmac256>()
  for (const p of peppers) {
    if (!Number.isInteger(p.version) || p.version < 1) {
      throw new KeywardError(
        'invalid_options',
        `pepper version must be a positive integer, got ${p.version}`,
      )
    }
    checkPepperSecret(p.secret, `pepper v${p.version}`)
    if (keys.has(p.version)) {
      throw new KeywardError(
        'invalid_options',
        `pepper v${p.version} is given twice: each version must appear once`,
      )
    }
    keys.set(p.version, new Hmac256(Buffer.from(p.secret, 'utf8')))
  }
  const versions = [...keys.keys()].sort((a, b) => b - a)
  const currentVersion = versions[0]!
  const currentKey = keys.get(currentVersion)!
  return {
    currentVersion,
    versions,
    hash(secret, version) {
      const key = version === undefined ? currentKey : keys.get(version)
      if (!key) throw new KeywardError('invalid_options', `pepper v${version} is not configured`)
      return key.digest(secret)
    },
    checkValue(version) {
      return this.hash(CHECK_MESSAGE, version)
    },
  }
}

/** Messages up to this many UTF-16 units are hashed in the preallocated buffer (3 bytes each at most). */
const SCRATCH_CHARS = 1024
const BLOCK = 64

/**
 * HMAC-SHA256 (RFC 2104) under one key, as two one-shot `crypto.hash` calls over pad blocks
 * derived once: `createHmac` builds an object and a stream per call, which on the verification
 * path costs more than the hashing itself. Tests hold it to `createHmac`.
 */
export class Hmac256 {
  private readonly inner: Buffer
  private readonly outer = Buffer.alloc(BLOCK + 32)
  private readonly views: Buffer[] = []

  constructor(key: Buffer) {
    const block = Buffer.alloc(BLOCK)
    ;(key.length > BLOCK ? createHash('sha256').update(key).digest() : key).copy(block)
    this.inner = Buffer.alloc(BLOCK + 3 * SCRATCH_CHARS)
    for (let i = 0; i < BLOCK; i++) {
      this.inner[i] = block[i]! ^ 0x36
      this.outer[i] = block[i]! ^ 0x5c
    }
    block.fill(0)
  }

  /** `HMAC-SHA256(key, utf8(message))` as base64url. */
  digest(message: string): string {
    if (message.length > SCRATCH_CHARS)
      return this.finish(Buffer.concat([this.inner.subarray(0, BLOCK), Buffer.from(message)]))
    const end = BLOCK + this.inner.write(message, BLOCK, 'utf8')
    // keys of one format have one length: the view of the buffer for it is made once
    let view = this.views[end]
    if (view === undefined) {
      view = this.inner.subarray(0, end)
      this.views[end] = view
    }
    const result = this.finish(view)
    // the secret does not stay behind in the reused buffer
    this.inner.fill(0, BLOCK, end)
    return result
  }

  /** The outer hash over the inner one; `data` is the inner pad block followed by the message. */
  private finish(data: Buffer): string {
    this.outer.write(digestOnce('sha256', data, 'binary'), BLOCK, 'latin1')
    return digestOnce('sha256', this.outer, 'base64url')
  }
}
