import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { KeywardError } from '../../core/errors.js'
import { classifyCredential, KEY_IN_TEXT_RE, keyHint } from '../../core/key-format.js'
import type { Keyward } from '../../core/keyward.js'
import { parseDatabaseUrl, resolveDatabaseUrl } from '../../open/database-url.js'
import { type DbOptions, withKeyward } from '../context.js'
import { type CliContext, type CliIo, UsageError, writeJson, writeLine } from '../io.js'
import { addDbOption } from '../options.js'

export interface ScanOptions extends DbOptions {
  json?: boolean
}

const SKIP_DIRS = new Set(['node_modules', '.git', '.hg', '.svn'])
/** Larger files are skipped: keys live in source and config, not in data dumps. */
export const MAX_SCAN_BYTES = 10 * 1024 * 1024

export interface ScanMatch {
  file: string
  line: number
  column: number
  hint: string
  /** True when the checksum is right: almost certainly a real key. */
  checksumOk: boolean
  keyId?: string | null
  status?: string
}

interface Walked {
  files: string[]
  skipped: { file: string; why: string }[]
}

function isBinary(file: string): boolean {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(8000)
    const n = readSync(fd, buf, 0, buf.length, 0)
    return buf.subarray(0, n).includes(0)
  } finally {
    closeSync(fd)
  }
}

function walk(paths: readonly string[]): Walked {
  const out: Walked = { files: [], skipped: [] }
  const visitFile = (file: string, size: number): void => {
    if (size > MAX_SCAN_BYTES) out.skipped.push({ file, why: 'larger than 10 MiB' })
    else if (isBinary(file)) out.skipped.push({ file, why: 'binary' })
    else out.files.push(file)
  }
  const visitDir = (dir: string): void => {
    let entries: import('node:fs').Dirent[]
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch (error) {
      out.skipped.push({ file: dir, why: (error as Error).message })
      return
    }
    entries.sort((a, b) => a.name.localeCompare(b.name))
    for (const e of entries) {
      const path = join(dir, e.name)
      // symbolic links are not followed inside directories: no loops, no scanning outside
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) visitDir(path)
      } else if (e.isFile()) {
        try {
          visitFile(path, statSync(path).size)
        } catch (error) {
          out.skipped.push({ file: path, why: (error as Error).message })
        }
      }
    }
  }
  for (const p of paths) {
    if (!existsSync(p))
      throw new UsageError(`${JSON.stringify(p)} does not exist: give files or directories to scan`)
    const st = statSync(p)
    if (st.isDirectory()) visitDir(p)
    else visitFile(p, st.size)
  }
  return out
}

/** Finds keyward-shaped strings in a text; the full match never leaves this function. */
export function findKeys(file: string, text: string): { match: ScanMatch; secret: string }[] {
  const found: { match: ScanMatch; secret: string }[] = []
  const lines = text.split('\n')
  lines.forEach((content, i) => {
    for (const m of content.matchAll(KEY_IN_TEXT_RE)) {
      const secret = m[0]
      found.push({
        secret,
        match: {
          file,
          line: i + 1,
          column: (m.index ?? 0) + 1,
          hint: keyHint(secret),
          checksumOk: classifyCredential(secret) === 'keyward',
        },
      })
    }
  })
  return found
}

async function identify(
  keyward: Keyward,
  secret: string,
): Promise<{ keyId: string | null; status: string }> {
  const row = await keyward.findSecret(secret)
  if (row === null) return { keyId: null, status: 'not in this database' }
  const rotatedOut = row.secret.expiresAt !== null && row.secret.expiresAt <= Date.now()
  const status = keyward.statusOf(row.key)
  return { keyId: row.key.id, status: rotatedOut && status === 'active' ? 'rotated out' : status }
}

/**
 * `keyward scan PATH...`: finds keyward keys in files (skipping node_modules, .git, binary
 * and huge files), prints file:line and the hint only. With a database, says which key each
 * one is and whether it still works. Exit 1 when it found keys with a valid checksum.
 */
export async function scan(
  paths: readonly string[],
  opts: ScanOptions,
  io: CliIo,
): Promise<number> {
  if (paths.length === 0) throw new UsageError('scan needs at least one PATH, e.g. keyward scan .')
  const walked = walk(paths)
  const found: { match: ScanMatch; secret: string }[] = []
  for (const file of walked.files) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      walked.skipped.push({ file, why: (error as Error).message })
      continue
    }
    found.push(...findKeys(file, text))
  }
  const keys = found.filter((f) => f.match.checksumOk)

  // a database is consulted when one was named, or when the default file exists
  const { url, isDefault } = resolveDatabaseUrl(opts.db, io.env)
  const target = parseDatabaseUrl(url, io.cwd)
  const useDb =
    keys.length > 0 && (!isDefault || (target.kind === 'sqlite' && existsSync(target.path)))
  if (useDb) {
    try {
      await withKeyward(io, opts, { mustExist: true }, async ({ keyward }) => {
        for (const k of keys) Object.assign(k.match, await identify(keyward, k.secret))
      })
    } catch (error) {
      if (!isDefault || !(error instanceof KeywardError)) throw error
      io.stderr.write(
        `keyward: cannot check the keys against ${target.display}: ${error.message}\n`,
      )
    }
  }

  const notKeys = found.filter((f) => !f.match.checksumOk).map((f) => f.match)
  const matches = keys.map((k) => k.match)
  if (opts.json) {
    writeJson(io, {
      keys: matches,
      notKeys,
      filesScanned: walked.files.length,
      skipped: walked.skipped,
    })
    return matches.length > 0 ? 1 : 0
  }
  for (const m of matches) {
    const where = `${m.file}:${m.line}:${m.column}`
    const what =
      m.status === undefined ? '' : m.keyId ? `  ${m.keyId} ${m.status}` : `  ${m.status}`
    writeLine(io, `${where}  ${m.hint}${what}`)
  }
  if (notKeys.length > 0) {
    writeLine(
      io,
      `${matches.length > 0 ? '\n' : ''}Probably not keys (key-shaped, but the checksum does not match):`,
    )
    for (const m of notKeys) writeLine(io, `  ${m.file}:${m.line}:${m.column}  ${m.hint}`)
  }
  const files = new Set(matches.map((m) => m.file)).size
  const summary =
    matches.length === 0
      ? `No keyward keys found in ${walked.files.length} file${walked.files.length === 1 ? '' : 's'}.`
      : `Found ${matches.length} keyward key${matches.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}: remove ${matches.length === 1 ? 'it' : 'them'} from the files, and revoke or rotate ${matches.length === 1 ? 'it' : 'them'} (keyward keys rotate ID).`
  writeLine(io, `${matches.length > 0 || notKeys.length > 0 ? '\n' : ''}${summary}`)
  if (walked.skipped.length > 0) {
    io.stderr.write(
      `keyward: skipped ${walked.skipped.length} file(s) (binary, over 10 MiB or unreadable)\n`,
    )
  }
  return matches.length > 0 ? 1 : 0
}

export function registerScan(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('scan')
    .description('find keyward keys in files (exit 1 when any is found; for CI and pre-commit)')
    .argument('<paths...>', 'files or directories')
    .option('--json', 'print JSON')
  addDbOption(cmd).action(async (paths: string[], opts: ScanOptions) => {
    ctx.exitCode = await scan(paths, opts, ctx.io)
  })
}
