import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { describeWithService, uniqueName } from '../../test/helpers/services.js'

const WORKER = fileURLToPath(new URL('../../test/fixtures/limiter-worker.ts', import.meta.url))

function startWorker(env: Record<string, string>): {
  child: ChildProcessWithoutNullStreams
  lines: AsyncIterator<string>
} {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  child.on('exit', (code) => {
    if (code !== 0) console.error(`limiter worker exited with ${code}: ${stderr}`)
  })
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator]() }
}

describeWithService('redis', 'redis limiter across processes', (url) => {
  it('admits exactly 50 of 500 concurrent requests from three processes, per rule and per quota', async () => {
    const keyPrefix = uniqueName('kwexact')
    // 167 + 167 + 166 requests to each of two partitions: one bound by a rate limit of 50,
    // one bound by a quota of 50.
    const shares = [334, 334, 332]
    const workers = shares.map((n) =>
      startWorker({
        LIMITER_REDIS_URL: url,
        LIMITER_KEY_PREFIX: keyPrefix,
        LIMITER_REQUESTS: String(n),
      }),
    )
    for (const w of workers) expect((await w.lines.next()).value).toBe('ready')
    for (const w of workers) w.child.stdin.write('go\n')
    const totals = { rule: 0, quota: 0, unavailable: 0 }
    for (const w of workers) {
      const line = (await w.lines.next()).value as string
      const counts = JSON.parse(line) as typeof totals
      totals.rule += counts.rule
      totals.quota += counts.quota
      totals.unavailable += counts.unavailable
      w.child.stdin.end()
    }
    expect(totals).toEqual({ rule: 50, quota: 50, unavailable: 0 })
    const client = new Redis(url)
    await client.del(`${keyPrefix}:l:{key:rule}`, `${keyPrefix}:l:{key:quota}`)
    await client.quit()
  }, 60_000)
})
