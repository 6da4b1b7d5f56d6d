import { randomBytes, randomUUID } from 'node:crypto'
import { decodeBase62Int, encodeBase62Bytes, encodeBase62Int, randomBase62 } from './base62.js'
import { crc32Ascii } from './crc32.js'
import { KeywardError } from './errors.js'

/** Default prefix of new keys; `kw_test` marks test keys. */
export const DEFAULT_PREFIX = 'kw_live'
/** No credential longer than this is parsed or hashed. */
export const MAX_CREDENTIAL_LENGTH = 256
/** Imported secrets shorter than this are refused: too guessable to protect anything. */
export const MIN_IMPORTED_LENGTH = 16

const RANDOM_LENGTH = 43
const CHECKSUM_LENGTH = 6
const BODY_LENGTH = RANDOM_LENGTH + CHECKSUM_LENGTH
const PREFIX_RE = /^[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?$/
const BODY_RE = /^[0-9A-Za-z]{49}$/
const KEY_ID_RE = /^key_[0-9A-Za-z]{16}$/

/** What a credential string looks like, decided without any store access or hashing. */
export type CredentialShape = 'keyward' | 'opaque' | 'invalid'

// Character classes by code point, one table lookup per character: BASE62 (the random and
// checksum part) and PREFIX (lowercase letters and digits, the prefix parts).
const BASE62_CHAR = 1
const PREFIX_CHAR = 2
const CHAR_CLASS = new Uint8Array(128)
for (let c = 48; c <= 57; c++) CHAR_CLASS[c] = BASE62_CHAR | PREFIX_CHAR
for (let c = 65; c <= 90; c++) CHAR_CLASS[c] = BASE62_CHAR
for (let c = 97; c <= 122; c++) CHAR_CLASS[c] = BASE62_CHAR | PREFIX_CHAR

/**
 * `PREFIX_RE` + `_` + 49 base62 characters, checked by hand: this runs on every request and a
 * table-driven character loop is several times cheaper than the equivalent regular expression.
 */
function isKeywardShaped(s: string): boolean {
  const sep = s.length - BODY_LENGTH - 1
  if (sep < 1 || s.charCodeAt(sep) !== 95) return false
  for (let i = sep + 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 127 || (CHAR_CLASS[c]! & BASE62_CHAR) === 0) return false
  }
  const first = s.charCodeAt(0)
  if (first < 97 || first > 122) return false
  let part = 1 // length of the current prefix part
  let parts = 1
  for (let i = 1; i < sep; i++) {
    const c = s.charCodeAt(i)
    if (c === 95) {
      if (parts === 2 || part === 0) return false
      parts = 2
      part = 0
    } else if (c < 128 && (CHAR_CLASS[c]! & PREFIX_CHAR) !== 0) {
      if (++part > 16) return false
    } else return false
  }
  return part > 0
}

/** True when `prefix` is a valid key prefix (`kw_live`, `acme`, `acme_test`). */
export function isValidPrefix(prefix: string): boolean {
  return PREFIX_RE.test(prefix)
}

/**
 * Throws `invalid_argument` naming the bad prefix and the expected form.
 *
 * @throws KeywardError `invalid_argument`
 */
export function assertValidPrefix(prefix: string): void {
  if (!isValidPrefix(prefix)) {
    throw new KeywardError(
      'invalid_argument',
      `prefix ${JSON.stringify(prefix)} is not valid: use 1-16 lowercase letters or digits starting with a letter, optionally followed by _ and 1-16 more (e.g. "kw_live", "acme_test")`,
    )
  }
}

function checksumOf(prefixAndRandom: string): string {
  return encodeBase62Int(crc32Ascii(prefixAndRandom), CHECKSUM_LENGTH)
}

/**
 * Generates a new key `<prefix>_<43 base62 random><6 base62 CRC32>` from 32 random bytes.
 *
 * @example
 * generateKey() // 'kw_live_4f0Q…' (57 characters)
 * generateKey({ prefix: 'kw_test' })
 * @throws KeywardError `invalid_argument` for a malformed prefix
 */
export function generateKey(options: { prefix?: string } = {}): string {
  const prefix = options.prefix ?? DEFAULT_PREFIX
  assertValidPrefix(prefix)
  const head = `${prefix}_${encodeBase62Bytes(randomBytes(32), RANDOM_LENGTH)}`
  return head + checksumOf(head)
}

/** A random UUID v4 key, for those who want one; it carries no prefix and no checksum. */
export function generateUuidKey(): string {
  return randomUUID()
}

/** A new public key id, `key_<16 base62>`. */
export function generateKeyId(): string {
  return `key_${randomBase62(16)}`
}

/** True when `id` has the shape of a key id. */
export function isKeyId(id: string): boolean {
  return KEY_ID_RE.test(id)
}

/**
 * Classifies a credential without touching any store: `keyward` when it is a well-formed
 * keyward key with a correct checksum, `opaque` when it could be an imported secret (visible
 * ASCII, 16-256 characters, not keyward-shaped), `invalid` otherwise. Oversized input is
 * refused before it is scanned.
 */
export function classifyCredential(credential: string): CredentialShape {
  const shape = classifyShape(credential)
  return shape === 'keyward' && !hasValidChecksum(credential) ? 'invalid' : shape
}

/**
 * `classifyCredential` without the checksum: `keyward` here means keyward-shaped, checksum not
 * yet checked (see `hasValidChecksum`). Lets verification answer a cached key without the
 * CRC: a credential found in the cache is a stored key, whose checksum was checked on the way in.
 */
export function classifyShape(credential: string): CredentialShape {
  const length = credential.length
  if (length === 0 || length > MAX_CREDENTIAL_LENGTH) return 'invalid'
  if (isKeywardShaped(credential)) return 'keyward'
  for (let i = 0; i < length; i++) {
    const c = credential.charCodeAt(i)
    // visible ASCII only: no spaces, control characters or look-alike Unicode
    if (c < 0x21 || c > 0x7e) return 'invalid'
  }
  // keyward-shaped with a malformed prefix (capitals, three parts…) is a broken key, not an imported secret
  const sep = credential.lastIndexOf('_')
  if (sep > 0 && length - sep - 1 === BODY_LENGTH && BODY_RE.test(credential.slice(sep + 1))) {
    return 'invalid'
  }
  return length >= MIN_IMPORTED_LENGTH ? 'opaque' : 'invalid'
}

/** True when a keyward-shaped credential's last 6 characters are the CRC32 of the rest. */
export function hasValidChecksum(credential: string): boolean {
  const length = credential.length
  const checksumStart = length - CHECKSUM_LENGTH
  return (
    decodeBase62Int(credential, checksumStart, length) === crc32Ascii(credential, checksumStart)
  )
}

/** The prefix of a keyward key (`kw_live`), or null for other credentials. */
export function prefixOf(credential: string): string | null {
  const sep = credential.lastIndexOf('_')
  return sep > 0 && credential.length - sep - 1 === BODY_LENGTH ? credential.slice(0, sep) : null
}

/** A keyward-shaped string inside a text: prefix, `_`, 49 base62 characters, not inside a longer word. */
export const KEY_IN_TEXT_RE =
  /(?<![A-Za-z0-9])[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?_[0-9A-Za-z]{49}(?![A-Za-z0-9])/g

/**
 * The text with every keyward-shaped string replaced by its hint: for messages that quote
 * input, which may hold a key sent in the wrong field.
 *
 * @example
 * hideKeys('scope "kw_live_AbCd…" is not valid') // 'scope "kw_live_AbCd…wxyz" is not valid'
 */
export function hideKeys(text: string): string {
  return text.includes('_') ? text.replace(KEY_IN_TEXT_RE, keyHint) : text
}

/**
 * The display hint of a key: its prefix plus the first and last 4 characters of the secret
 * part (`kw_live_AbCd…wxyz`). Safe to log and show.
 */
export function keyHint(credential: string): string {
  const prefix = prefixOf(credential)
  // the prefix, "_" and the body's first 4 characters are one slice of the credential
  const head = prefix === null ? 4 : prefix.length + 5
  return `${credential.slice(0, head)}…${credential.slice(-4)}`
}
