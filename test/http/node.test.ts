// node:http specifics: the guard's connect-style `next`, which receives the errors of the
// caller's own hooks and of a response it can no longer write, and resolves the guard to false.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import { requireApiKey } from '../../src/http/node/index.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]
let keyward: Keyward
beforeAll(async () => {
  keyward = await createKeyward({ store: createMemoryStore(), peppers: PEPPER })
})
afterAll(() => keyward.close())

/** Serves one request with `handle`, then reports what the guard resolved and what next got. */
async function once(
  handle: (
    req: IncomingMessage,
    res: ServerResponse,
    next: (error?: unknown) => void,
  ) => Promise<boolean>,
): Promise<{ resolved: boolean | string; nextGot: unknown[] }> {
  const nextGot: unknown[] = []
  let resolved: Promise<boolean | string> = Promise.resolve('not called')
  const server = createServer((req, res) => {
    resolved = handle(req, res, (error) => nextGot.push(error)).catch(
      (error: Error) => `rejected: ${error.message}`,
    )
    resolved.then(() => {
      if (!res.writableEnded) res.end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text())
  server.close()
  return { resolved: await resolved, nextGot }
}

describe('node:http guard with next', () => {
  it('hands a throwing getCredential to next and resolves false', async () => {
    const guard = requireApiKey({
      keyward,
      getCredential: () => {
        throw new Error('bug in getCredential')
      },
    })
    const { resolved, nextGot } = await once((req, res, next) => guard(req, res, next))
    expect(resolved).toBe(false)
    expect(nextGot).toEqual([new Error('bug in getCredential')])
  })

  it('hands an error writing the denial to next (headers already sent) and resolves false', async () => {
    const guard = requireApiKey({ keyward })
    const { resolved, nextGot } = await once((req, res, next) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      return guard(req, res, next)
    })
    expect(resolved).toBe(false)
    expect(nextGot).toEqual([expect.objectContaining({ code: 'ERR_HTTP_HEADERS_SENT' })])
  })

  it('without next, the same errors reject the guard', async () => {
    const guard = requireApiKey({ keyward })
    const { resolved, nextGot } = await once((req, res) => {
      res.writeHead(200)
      return guard(req, res)
    })
    expect(resolved).toMatch(/^rejected: Cannot set headers after they are sent/)
    expect(nextGot).toEqual([])
  })
})
