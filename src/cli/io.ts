import { Readable } from 'node:stream'

/** Where a command reads and writes; `run` gets the process's, tests inject their own. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: { write(chunk: string): unknown }
  stderr: { write(chunk: string): unknown }
  env: Readonly<Record<string, string | undefined>>
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

/** An io for tests: stdin from a string, stdout/stderr collected. */
export function memoryIo(
  options: { stdin?: string; env?: Record<string, string | undefined> } = {},
): CliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  return {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: options.env ?? {},
    out: () => out,
    err: () => err,
  }
}

const MAX_STDIN_BYTES = 64 * 1024

/**
 * Reads a secret from stdin: everything up to EOF (or the first line on a terminal), with
 * one trailing newline removed and nothing else trimmed. Secrets never come from argv, where
 * they would land in shell history and process listings.
 */
export async function readSecret(io: CliIo, what: string): Promise<string> {
  const tty = io.stdin.isTTY === true
  if (tty) io.stderr.write(`Paste ${what} and press Enter:\n`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of io.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    chunks.push(buf)
    size += buf.length
    if (size > MAX_STDIN_BYTES) throw new UsageError(`${what} on stdin is longer than 64 KiB`)
    if (tty && buf.includes(0x0a)) break
  }
  let text = Buffer.concat(chunks).toString('utf8')
  if (tty) text = text.slice(0, text.indexOf('\n') + 1 || undefined)
  if (text.endsWith('\r\n')) text = text.slice(0, -2)
  else if (text.endsWith('\n')) text = text.slice(0, -1)
  return text
}

export function writeLine(io: CliIo, line = ''): void {
  io.stdout.write(`${line}\n`)
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
