import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { NodeRequestView } from './node-view.js'

/** A request of `lines` header lines on a socket shaped like Node's. */
function truncated(lines: number, socket: unknown): boolean {
  const rawHeaders = Array.from({ length: lines * 2 }, (_, i) => `h${i}`)
  return new NodeRequestView({ socket, rawHeaders } as unknown as IncomingMessage).headersTruncated
}

describe('NodeRequestView.headersTruncated', () => {
  it.each([
    // the parser's value wins while the connection holds one
    [
      'parser limit, under',
      { parser: { maxHeaderPairs: 8 }, server: { maxHeadersCount: 0 } },
      3,
      false,
    ],
    [
      'parser limit, reached',
      { parser: { maxHeaderPairs: 8 }, server: { maxHeadersCount: 0 } },
      4,
      true,
    ],
    [
      'parser without limit',
      { parser: { maxHeaderPairs: 0 }, server: { maxHeadersCount: 1 } },
      50,
      false,
    ],
    // a released parser: the server's maxHeadersCount as Node applies it
    [
      'server default (null), under',
      { parser: null, server: { maxHeadersCount: null } },
      999,
      false,
    ],
    [
      'server default (null), reached',
      { parser: null, server: { maxHeadersCount: null } },
      1000,
      true,
    ],
    ['server count 5, under', { server: { maxHeadersCount: 5 } }, 4, false],
    ['server count 5, reached', { server: { maxHeadersCount: 5 } }, 5, true],
    ['server count 0: no limit', { server: { maxHeadersCount: 0 } }, 5000, false],
    // HTTP/2 compatibility requests and hand-built ones: no HTTP/1 server, no such limit
    ['no maxHeadersCount (not an http.Server)', { server: {} }, 5000, false],
    ['no server', {}, 5000, false],
    ['no socket', undefined, 5000, false],
  ])('%s', (_name, socket, lines, expected) => {
    expect(truncated(lines, socket)).toBe(expected)
  })
})
