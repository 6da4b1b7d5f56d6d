// HTTPS on `keyward serve`: HSTS on every answer, the certificate re-read on SIGHUP without
// dropping open connections, and a bad file on reload logged while the old certificate stays.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:https'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { beforeAll, expect, it } from 'vitest'
import { requireBuild, spawnServe, stopServe, tempDir } from '../fixtures/serve-process.js'
import { type CertificateFiles, makeCertificate } from '../fixtures/tls.js'

beforeAll(requireBuild)

interface Answer {
  status: number
  hsts: string | undefined
  /** CN of the certificate the server presented. */
  cn: string
  reusedSocket: boolean
}

function get(url: string, ca: Buffer[], agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { ca, agent }, (res) => {
      const cn = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN)
      res.resume()
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          hsts: res.headers['strict-transport-security'] as string | undefined,
          cn,
          reusedSocket: req.reusedSocket,
        }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

it('serves HTTPS with HSTS and swaps the certificate on SIGHUP without dropping connections', async () => {
  const dir = tempDir()
  const first: CertificateFiles = makeCertificate(dir, 'first')
  const second: CertificateFiles = makeCertificate(dir, 'second')
  const ca = [readFileSync(first.cert), readFileSync(second.cert)]
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  copyFileSync(first.cert, cert)
  copyFileSync(first.key, key)

  const child = spawnServe(
    ['--port', '0', '--db', `sqlite:${join(dir, 'k.db')}`, '--tls-cert', cert, '--tls-key', key],
    { cwd: dir },
  )
  const url = await child.listening()
  expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
  // one kept-alive connection, opened before the reload
  const kept = new Agent({ keepAlive: true, maxSockets: 1 })
  expect(await get(url, ca, kept)).toEqual({
    status: 200,
    hsts: 'max-age=31536000; includeSubDomains',
    cn: 'first',
    reusedSocket: false,
  })

  copyFileSync(second.cert, cert)
  copyFileSync(second.key, key)
  child.process.kill('SIGHUP')
  await child.waitForLog((l) => l.msg === 'reloaded the TLS certificate')
  const fresh = await get(url, ca, new Agent())
  expect(fresh).toMatchObject({ status: 200, cn: 'second' })
  // the connection made before the reload still works
  expect(await get(url, ca, kept)).toMatchObject({ status: 200, cn: 'first', reusedSocket: true })

  writeFileSync(cert, 'not a certificate\n')
  child.process.kill('SIGHUP')
  const kept2 = await child.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('kept'))
  expect(kept2).toMatchObject({
    msg: 'kept the previous TLS certificate: the new files cannot be used',
    reason: `${cert} is not a PEM certificate (it should begin with -----BEGIN CERTIFICATE-----)`,
  })
  expect(await get(url, ca, new Agent())).toMatchObject({ status: 200, cn: 'second' })

  kept.destroy()
  expect(await stopServe(child)).toBe(0)
})
