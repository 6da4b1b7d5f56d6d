import { KeywardError } from './errors.js'

/**
 * Throws `invalid_options` for an option name a factory does not know (usually a typo), naming
 * it and the names that are known. One check for every factory, so they all answer alike.
 *
 * @example
 * rejectUnknownOptions(options, new Set(['db', 'tablePrefix']), 'createSqliteStore')
 * @throws KeywardError `invalid_options`
 */
export function rejectUnknownOptions(
  options: object,
  known: ReadonlySet<string>,
  factory: string,
  /** Prefix of nested option names, e.g. `limits.` */
  path = '',
): void {
  for (const name of Object.keys(options)) {
    if (!known.has(name)) {
      throw new KeywardError(
        'invalid_options',
        `unknown option "${path}${name}" for ${factory}: expected one of ${[...known].map((k) => path + k).join(', ')}`,
      )
    }
  }
}

/**
 * A duration option in whole ms, at least `min`; `fallback` when absent.
 *
 * @throws KeywardError `invalid_options` naming the option
 */
export function msOption(value: unknown, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new KeywardError(
      'invalid_options',
      `"${name}" must be a whole number of ms >= ${min}, got ${JSON.stringify(value)}`,
    )
  return value
}
