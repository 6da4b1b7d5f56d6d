import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { KeywardError } from '../core/errors.js'
import { MIN_PEPPER_LENGTH, type Pepper, parsePeppers } from '../core/hash.js'
import { describeError } from './describe-error.js'
import type { OpenedStore } from './open-store.js'

/** Where the pepper came from, for messages (never the pepper itself). */
export type PepperSource =
  | 'KEYWARD_PEPPER'
  | 'KEYWARD_PEPPER_FILE'
  | 'development file'
  | 'ephemeral'

export interface LoadedPeppers {
  peppers: Pepper[]
  source: PepperSource
  /** The file it was read from or written to, when any. */
  file?: string
}

/**
 * Reads a pepper file: contents trimmed, refused when other users may read it (a pepper
 * that any local account can read protects nothing), when missing, or when empty.
 *
 * @throws KeywardError `invalid_options` naming the file and the fix
 */
export function readPepperFile(
  file: string,
  source = 'KEYWARD_PEPPER_FILE',
  /** What the secret is called in messages. */
  noun = 'pepper',
): Pepper[] {
  let mode: number
  try {
    const st = statSync(file)
    if (!st.isFile()) {
      throw new KeywardError('invalid_options', `${source} ${file} is not a regular file`)
    }
    mode = st.mode & 0o777
  } catch (error) {
    if (error instanceof KeywardError) throw error
    throw new KeywardError(
      'invalid_options',
      `${source} ${file} cannot be read: ${describeError(error)}`,
      { cause: error },
    )
  }
  if ((mode & 0o077) !== 0) {
    throw new KeywardError(
      'invalid_options',
      `${source} ${file} is accessible by other users (mode ${mode.toString(8).padStart(4, '0')}): restrict it with "chmod 600 ${file}" (Kubernetes: defaultMode 0400; Docker: mode 0400)`,
    )
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new KeywardError(
      'invalid_options',
      `${source} ${file} cannot be read: ${describeError(error)}`,
      { cause: error },
    )
  }
  return parsePeppers(text.trim(), `${source} ${file}`, noun)
}

/** A fresh pepper: 48 random bytes, base64url (64 characters). */
export function generatePepper(): string {
  return randomBytes(48).toString('base64url')
}

/** The development pepper file of an SQLite database: `<db path>.pepper`. */
export function devPepperPath(dbPath: string): string {
  return `${dbPath}.pepper`
}

/**
 * The pepper from `KEYWARD_PEPPER` or `KEYWARD_PEPPER_FILE` (one of them, never both), or
 * null when neither is set.
 *
 * @throws KeywardError `invalid_options`
 */
export function peppersFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): LoadedPeppers | null {
  const inline = env.KEYWARD_PEPPER
  const file = env.KEYWARD_PEPPER_FILE
  if (inline !== undefined && file !== undefined) {
    throw new KeywardError(
      'invalid_options',
      'both KEYWARD_PEPPER and KEYWARD_PEPPER_FILE are set: set only one of them',
    )
  }
  if (inline !== undefined)
    return { peppers: parsePeppers(inline, 'KEYWARD_PEPPER'), source: 'KEYWARD_PEPPER' }
  if (file !== undefined) {
    if (file.trim() === '')
      throw new KeywardError(
        'invalid_options',
        'KEYWARD_PEPPER_FILE is set but empty: give a file path',
      )
    return { peppers: readPepperFile(file), source: 'KEYWARD_PEPPER_FILE', file }
  }
  return null
}
export function noPostgresPepper(display: string): KeywardError {
  return new KeywardError(
    'invalid_options',
    `no pepper for ${display}: set KEYWARD_PEPPER (or KEYWARD_PEPPER_FILE) to a random secret of at least ${MIN_PEPPER_LENGTH} characters (e.g. openssl rand -base64 48); keyward generates one only for local SQLite files`,
  )
}

export async function devPeppers(
  opened: OpenedStore,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
): Promise<LoadedPeppers> {
  const { target, store } = opened
  if (target.kind === 'postgres') throw noPostgresPepper(target.display)
  if (target.path === ':memory:') {
    // nothing outlives the process, so neither does its pepper
    return { peppers: [{ version: 1, secret: generatePepper() }], source: 'ephemeral' }
  }
  const file = devPepperPath(target.path)
  if (existsSync(file))
    return { peppers: readPepperFile(file, 'pepper file'), source: 'development file', file }
  if ((await store.getMeta('pepper_check_v1')) !== null) {
    throw new KeywardError(
      'pepper_mismatch',
      `the database ${target.display} was created with a pepper that is not here (no KEYWARD_PEPPER, no KEYWARD_PEPPER_FILE, no ${file}), so no stored key could verify: copy the original ${file} next to it or set KEYWARD_PEPPER to the original pepper`,
    )
  }
  if (env.NODE_ENV === 'production') {
    throw new KeywardError(
      'invalid_options',
      `no pepper set and NODE_ENV is production: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE (keyward generates a pepper only in development)`,
    )
  }
  const secret = generatePepper()
  try {
    // 'wx': never overwrite a pepper another process just wrote
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EEXIST')
      return { peppers: readPepperFile(file, 'pepper file'), source: 'development file', file }
    throw new KeywardError(
      'store_unavailable',
      `cannot write the development pepper ${file}: ${describeError(error)}`,
      { cause: error },
    )
  }
  warn(
    `keyward: generated a development pepper in ${file} (mode 0600). Keep it with the database: without it no key verifies. In production set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE instead.`,
  )
  return { peppers: [{ version: 1, secret }], source: 'development file', file }
}
