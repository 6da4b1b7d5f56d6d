// SIGTERM and SIGINT drain `keyward serve`: no new connections, a request in flight when the
// signal arrives completes, usage counted before the signal reaches the store, exit 0.
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/testing.js'
import {
  bootstrapKey,
  requireBuild,
  SERVE_PEPPER,
  spawnServe,
  tempDir,
} from '../fixtures/serve-process.js'

beforeAll(requireBuild)

/** Sends raw bytes on a connection and resolves with everything the server answered. */
function openRaw(port: number): Promise<{ socket: Socket; answer: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    const answer = new Promise<string>((done) => {
      socket.on('data', (d) => {
        data += d.toString()
      })
      socket.on('close', () => done(data))
    })
    socket.once('connect', () => resolve({ socket, answer }))
    socket.once('error', reject)
  })
}

function refused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message))
  })
}

async function showKey(db: string, id: string): Promise<{ usageCount: number; name: string }> {
  const r = await runCli(['keys', 'show', id, '--json', '--db', db], {
    env: { KEYWARD_PEPPER: SERVE_PEPPER },
  })
  expect(r.stderr).toBe('')
  return JSON.parse(r.stdout)
}

describe.each(['SIGTERM', 'SIGINT'] as const)('keyward serve on %s', (signal) => {
  it('finishes the request in flight, refuses new connections, flushes usage, exits 0', async () => {
    const dir = tempDir()
    const db = `sqlite:${join(dir, 'keyward.db')}`
    const child = spawnServe(['--port', '0', '--db', db, '--log-level', 'trace'], { cwd: dir })
    const base = await child.listening()
    const admin = bootstrapKey(child.stderr())!
    const adminId = /created: (key_[0-9A-Za-z]{16})/.exec(child.stderr())![1]!
    const port = Number(new URL(base).port)

    // usage counted in memory (flushed every 10 s, or on close)
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${base}/v1/keys`, { headers: { authorization: `Bearer ${admin}` } })
      expect(r.status).toBe(200)
    }

    // a creation whose body is half sent when the signal arrives
    const body = JSON.stringify({ name: 'created while draining' })
    const { socket, answer } = await openRaw(port)
    socket.write(
      `POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 5)}`,
    )
    // the request is in flight once the server has its headers; at trace level it says so
    await child.waitForLog((l) => l.msg === 'request received' && l.method === 'POST')
    child.process.kill(signal)
    await child.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('draining'))
    expect(await refused(port)).toBe('ECONNREFUSED')

    socket.write(body.slice(5))
    const response = await answer
    expect(response).toMatch(/^HTTP\/1\.1 201 /)
    // the connection is closed after its last answer, not kept alive during the drain
    expect(response).toMatch(/\r\nconnection: close\r\n/i)
    const created = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { id: string }

    expect(await child.exited).toBe(0)
    expect(child.logs().at(-1)?.msg).toBe('stopped')
    // the key created during the drain exists, and the admin key's usage was flushed on exit
    expect((await showKey(db, created.id)).name).toBe('created while draining')
    expect((await showKey(db, adminId)).usageCount).toBe(4)
  })
})

describe('keyward serve drain timeout', () => {
  it('closes a connection whose request never completes, then exits 0', async () => {
    const dir = tempDir()
    const child = spawnServe(
      [
        ...['--port', '0', '--db', `sqlite:${join(dir, 'k.db')}`],
        ...['--drain-timeout', '200ms', '--log-level', 'trace'],
      ],
      { cwd: dir },
    )
    const base = await child.listening()
    const admin = bootstrapKey(child.stderr())!
    const { socket, answer } = await openRaw(Number(new URL(base).port))
    // a body announced but never sent
    socket.write(
      `POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
    )
    await child.waitForLog((l) => l.msg === 'request received' && l.method === 'POST')
    child.process.kill('SIGTERM')
    expect(await answer).toBe('')
    expect(await child.exited).toBe(0)
    expect(
      child.logs().some((l) => l.msg === 'drain timeout: closing the connections still open'),
    ).toBe(true)
  })
})
