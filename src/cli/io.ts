import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'

/** Where a command reads and writes; `run` gets the process's, tests inject their own. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown }
  stdout: { write(chunk: string): unknown }
  stderr: { write(chunk: string): unknown }
  env: Readonly<Record<string, string | undefined>>
  /** The directory a relative database path (the default `./keyward.db` included) is in. */
  cwd: string
}

/** State shared by the commands of one `run`: the io and the exit code to return. */
export interface CliContext {
  io: CliIo
  exitCode: number
}

/** Bad usage: printed as one line, exit code 2. The message names the bad value. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** A refusal that is not an error of the user's input (a revoked key cannot rotate): exit 1. */
export class RefusedError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RefusedError'
  }
}

/**
 * An io for tests: stdin from a string, stdout/stderr collected. The working directory is a
 * fresh empty one unless given, so no test sees a `./keyward.db` left where the tests run.
 */
export function memoryIo(
  options: { stdin?: string; env?: Record<string, string | undefined>; cwd?: string } = {},
): CliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  return {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: options.env ?? {},
    cwd: options.cwd ?? mkdtempSync(join(tmpdir(), 'keyward-cli-cwd-')),
    out: () => out,
    err: () => err,
  }
}

const MAX_STDIN_BYTES = 64 * 1024

/**
 * Reads a secret from stdin: everything up to EOF, with one trailing newline removed and
 * nothing else trimmed. Secrets never come from argv, where they would land in shell history
 * and process listings. On a terminal it reads one line without echoing it, so the key does
 * not stay on screen or in the scrollback.
 */
export async function readSecret(io: CliIo, what: string): Promise<string> {
  if (io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function') {
    return readHiddenLine(io, what)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of io.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    chunks.push(buf)
    size += buf.length
    if (size > MAX_STDIN_BYTES) throw new UsageError(`${what} on stdin is longer than 64 KiB`)
  }
  let text = Buffer.concat(chunks).toString('utf8')
  if (text.endsWith('\r\n')) text = text.slice(0, -2)
  else if (text.endsWith('\n')) text = text.slice(0, -1)
  return text
}

/** Thrown when the user presses Ctrl-C at the hidden prompt (raw mode swallows the signal). */
export class InterruptedError extends Error {
  constructor() {
    super('interrupted')
    this.name = 'InterruptedError'
  }
}

/**
 * One line from a terminal in raw mode (no echo): Enter ends it, Backspace deletes, Ctrl-C
 * aborts, Ctrl-D ends it early. The terminal is restored whatever happens.
 */
async function readHiddenLine(io: CliIo, what: string): Promise<string> {
  const stdin = io.stdin
  io.stderr.write(`Paste ${what} and press Enter (it is not shown):\n`)
  stdin.setRawMode!(true)
  let text = ''
  try {
    for await (const chunk of stdin) {
      const s = typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8')
      for (const ch of s) {
        if (ch === '\r' || ch === '\n' || ch === '\x04') return text
        if (ch === '\x03') throw new InterruptedError()
        if (ch === '\x7f' || ch === '\b') text = text.slice(0, -1)
        else text += ch
        if (text.length > MAX_STDIN_BYTES) {
          throw new UsageError(`${what} on stdin is longer than 64 KiB`)
        }
      }
    }
    return text
  } finally {
    stdin.setRawMode!(false)
    // stop reading, or the open terminal keeps the process alive
    stdin.pause()
    io.stderr.write('\n')
  }
}

export function writeLine(io: CliIo, line = ''): void {
  io.stdout.write(`${line}\n`)
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
