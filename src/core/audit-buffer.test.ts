// Denials of known keys reach the audit trail without the verify path ever waiting: merged per
// key, code and minute, written in batches, put back on a failed write, bounded in memory.
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryLimiter } from '../limits/memory.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { AuditBuffer, type AuditBufferOptions } from './audit-buffer.js'
import { verifyAuditChain } from './audit-chain.js'
import { createKeyward, type Keyward } from './keyward.js'
import type { AuditEvent, Store } from './types.js'

const peppers = [{ version: 1, secret: 'audit-buffer-test-pepper-0123456789abcdefgh' }]
const MINUTE = 60_000
const T = Date.UTC(2026, 0, 1)

/** The one store method the buffer calls, recording each batch; `fail`/`hold` for failures. */
function auditStore() {
  const batches: AuditEvent[][] = []
  const state = { fail: false, hold: null as Promise<void> | null, calls: 0 }
  const store = {
    async appendAudit(events: readonly AuditEvent[]) {
      state.calls++
      if (state.hold) await state.hold
      if (state.fail) throw new Error('store down')
      batches.push(events.map((e) => ({ ...e })))
    },
  } as unknown as Store
  const holdWrites = () => {
    let release = () => {}
    state.hold = new Promise((resolve) => {
      release = resolve
    })
    return release
  }
  return { store, batches, state, holdWrites }
}

const buffers: AuditBuffer[] = []
const opened: Keyward[] = []
afterEach(async () => {
  for (const b of buffers.splice(0)) await b.close().catch(() => {})
  for (const k of opened.splice(0)) await k.close().catch(() => {})
})

function make(store: Store, options: AuditBufferOptions = {}, onError = (_: unknown) => {}) {
  const buffer = new AuditBuffer(
    store,
    { denials: true, flushIntervalMs: 3_600_000, batchSize: 500, maxPending: 10_000, ...options },
    onError,
  )
  buffers.push(buffer)
  return buffer
}

describe('AuditBuffer', () => {
  it('merges identical denials of a minute into one event with a count', async () => {
    const { store, batches } = auditStore()
    const buffer = make(store)
    for (let i = 0; i < 1000; i++) buffer.record('key_A', 'rate_limited', '10.0.0.1', T + i)
    buffer.record('key_A', 'rate_limited', '::ffff:10.0.0.2', T + 5000)
    buffer.record('key_A', 'rate_limited', '10.0.0.1', T + MINUTE) // next minute
    buffer.record('key_A', 'insufficient_scope', '10.0.0.1', T)
    buffer.record('key_B', 'rate_limited', undefined, T)
    buffer.record('key_B', 'key_invalid', undefined, T) // not a denial of a known key
    buffer.record('key_B', 'store_unavailable', undefined, T) // an outage, not a denial
    expect(batches).toEqual([]) // nothing written on the verify path
    await buffer.flush()
    expect(batches).toHaveLength(1)
    const events = batches[0]!
    expect(events).toHaveLength(4)
    const first = events.find((e) => e.keyId === 'key_A' && e.at === T)!
    expect(first).toMatchObject({
      action: 'key.denied',
      actor: null,
      ip: '10.0.0.1',
      count: 1001,
      details: { code: 'rate_limited', lastAt: T + 5000, lastIp: '10.0.0.2' },
    })
    expect(events.find((e) => e.at === T + MINUTE)?.count).toBe(1)
    expect(events.find((e) => e.details.code === 'insufficient_scope')?.count).toBe(1)
    expect(events.find((e) => e.keyId === 'key_B')?.ip).toBeNull()
    await buffer.flush()
    expect(batches).toHaveLength(1) // nothing left
  })

  it('starts a write once batchSize distinct events wait, without waiting for it', async () => {
    const { store, batches } = auditStore()
    const buffer = make(store, { batchSize: 3 })
    buffer.record('key_A', 'key_revoked', undefined, T)
    buffer.record('key_B', 'key_revoked', undefined, T)
    expect(batches).toHaveLength(0)
    buffer.record('key_C', 'key_revoked', undefined, T)
    await new Promise((resolve) => setImmediate(resolve))
    expect(batches.map((b) => b.length)).toEqual([3])
  })

  it('writes one batch at a time: a flush during a write waits for it', async () => {
    const { store, batches, state, holdWrites } = auditStore()
    const buffer = make(store)
    buffer.record('key_A', 'key_revoked', undefined, T)
    const release = holdWrites()
    const first = buffer.flush()
    buffer.record('key_B', 'key_revoked', undefined, T)
    const second = buffer.flush()
    await new Promise((resolve) => setImmediate(resolve))
    expect(state.calls).toBe(1)
    release()
    await Promise.all([first, second])
    expect(batches.map((b) => b.map((e) => e.keyId))).toEqual([['key_A'], ['key_B']])
  })

  it('writes a batch that filled up during a write right after it', async () => {
    const { store, batches, state, holdWrites } = auditStore()
    const buffer = make(store, { batchSize: 2 })
    const release = holdWrites()
    buffer.record('key_A', 'key_revoked', undefined, T)
    buffer.record('key_B', 'key_revoked', undefined, T) // starts a write, held
    buffer.record('key_C', 'key_revoked', undefined, T)
    buffer.record('key_D', 'key_revoked', undefined, T) // a full batch waits
    await new Promise((resolve) => setImmediate(resolve))
    expect(state.calls).toBe(1)
    state.hold = null
    release()
    await expect.poll(() => batches.length).toBe(2)
    expect(batches.map((b) => b.map((e) => e.keyId))).toEqual([
      ['key_A', 'key_B'],
      ['key_C', 'key_D'],
    ])
  })

  it('gives an event only what a reader needs: lastAt with a count, lastIp with a new address', async () => {
    const { store, batches } = auditStore()
    const buffer = make(store)
    buffer.record('key_A', 'key_revoked', '10.0.0.1', T)
    buffer.record('key_B', 'key_revoked', '10.0.0.1', T)
    buffer.record('key_B', 'key_revoked', '10.0.0.1', T + 7)
    await buffer.flush()
    const [a, b] = batches[0]!
    expect(a).toMatchObject({ keyId: 'key_A', count: 1, ip: '10.0.0.1' })
    expect(a!.details).toEqual({ code: 'key_revoked' })
    expect(b).toMatchObject({ keyId: 'key_B', count: 2, ip: '10.0.0.1' })
    expect(b!.details).toEqual({ code: 'key_revoked', lastAt: T + 7 })
  })

  it('writes on the interval and on close', async () => {
    const { store, batches } = auditStore()
    const buffer = make(store, { flushIntervalMs: 20 })
    buffer.record('key_A', 'key_expired', undefined, T)
    await expect.poll(() => batches.length).toBe(1)
    buffer.record('key_A', 'key_disabled', undefined, T)
    await buffer.close()
    expect(batches).toHaveLength(2)
  })

  it('puts a failed batch back, merged with what came meanwhile, and writes it later', async () => {
    const { store, batches, state, holdWrites } = auditStore()
    const errors: unknown[] = []
    const buffer = make(store, {}, (e) => errors.push(e))
    buffer.record('key_A', 'rate_limited', undefined, T)
    state.fail = true
    const release = holdWrites()
    const failing = buffer.flush()
    buffer.record('key_A', 'rate_limited', undefined, T + 1) // arrives during the write
    release()
    await expect(failing).rejects.toThrow('store down')
    expect(buffer.stats()).toMatchObject({ failedFlushes: 1, pending: 1 })
    state.fail = false
    state.hold = null
    await buffer.flush()
    expect(batches.flat().map((e) => [e.keyId, e.count, e.at])).toEqual([['key_A', 2, T]])
  })

  it('bounds memory: past maxPending distinct events, new ones are dropped and counted', async () => {
    const { store, batches } = auditStore()
    const buffer = make(store, { maxPending: 100, batchSize: 1_000_000 })
    // a burst of a million denials over 10 000 keys
    for (let i = 0; i < 1_000_000; i++) buffer.record(`key_${i % 10_000}`, 'rate_limited', undefined, T)
    const stats = buffer.stats()
    expect(stats.pending).toBe(100)
    // the first 100 keys keep merging (100 denials each); every other denial is dropped
    expect(stats.dropped).toBe(1_000_000 - 100 * 100)
    await buffer.flush()
    expect(batches[0]).toHaveLength(100)
    expect(batches[0]!.reduce((n, e) => n + (e.count ?? 1), 0) + stats.dropped).toBe(1_000_000)
  })

  it('puts a failed batch back whole when nothing came meanwhile', async () => {
    const { store, batches, state } = auditStore()
    const buffer = make(store, {}, () => {})
    buffer.record('key_A', 'rate_limited', undefined, T)
    buffer.record('key_B', 'key_revoked', undefined, T)
    state.fail = true
    await expect(buffer.flush()).rejects.toThrow('store down')
    expect(buffer.stats()).toEqual({ dropped: 0, failedFlushes: 1, pending: 2 })
    state.fail = false
    await buffer.flush()
    expect(batches.flat().map((e) => e.keyId)).toEqual(['key_A', 'key_B'])
  })

  it('drops and counts what a failed batch cannot put back within maxPending', async () => {
    const { store, batches, state, holdWrites } = auditStore()
    const errors: unknown[] = []
    const buffer = make(store, { maxPending: 2 }, (e) => errors.push(e))
    for (let i = 0; i < 3; i++) buffer.record('key_A', 'rate_limited', undefined, T + i)
    buffer.record('key_B', 'rate_limited', undefined, T)
    state.fail = true
    const release = holdWrites()
    const failing = buffer.flush()
    // two other events fill the buffer while the write fails
    buffer.record('key_C', 'rate_limited', undefined, T)
    buffer.record('key_D', 'rate_limited', undefined, T)
    release()
    await expect(failing).rejects.toThrow('store down')
    // key_A's 3 denials and key_B's 1 had no room to go back to
    expect(buffer.stats()).toEqual({ dropped: 4, failedFlushes: 1, pending: 2 })
    state.fail = false
    state.hold = null
    await buffer.flush()
    expect(batches.flat().map((e) => e.keyId)).toEqual(['key_C', 'key_D'])
  })

  it('records nothing when denials are off', async () => {
    const { store, batches } = auditStore()
    const buffer = make(store, { denials: false })
    buffer.record('key_A', 'key_revoked', undefined, T)
    await buffer.close()
    expect(batches).toEqual([])
  })
})

describe('denials in the verify pipeline', () => {
  async function open(store: Store = createMemoryStore(), limits = false) {
    let now = T
    const keyward = await createKeyward({
      store,
      peppers,
      clock: { now: () => now },
      ...(limits ? { limits: { limiter: createMemoryLimiter() } } : {}),
    })
    opened.push(keyward)
    return { keyward, advance: (ms: number) => (now += ms) }
  }

  it('records a known key refused (status, IP, scope, rate limit), never an unknown key', async () => {
    const { keyward } = await open(createMemoryStore(), true)
    const scoped = await keyward.createKey({ name: 'scoped', scopes: ['a:read'] })
    const walled = await keyward.createKey({ name: 'walled', ipAllowlist: ['10.0.0.0/8'] })
    const limited = await keyward.createKey({
      name: 'limited',
      rateLimits: [{ name: 'default', limit: 1, windowMs: 60_000 }],
    })
    const revoked = await keyward.createKey({ name: 'revoked' })
    await keyward.revokeKey(revoked.record.id)
    await keyward.verify(scoped.key, { scopes: ['a:write'], ip: '192.0.2.7' })
    await keyward.verify(scoped.key, { scopes: ['a:write'], ip: '192.0.2.7' })
    await keyward.verify(walled.key, { ip: '192.0.2.8' })
    await keyward.verify(limited.key)
    await keyward.verify(limited.key) // rate limited
    await keyward.verify(revoked.key)
    await keyward.verify(`${scoped.key.slice(0, 12)}x`) // malformed
    await keyward.verify('kw_live_unknownunknownunknownunknownunknownun000000') // unknown
    await keyward.verify(scoped.key, { scopes: ['a:read'] }) // ok: nothing recorded
    await keyward.flush()
    const denied = await keyward.audit.page({ type: 'key.denied' })
    const byKey = Object.fromEntries(
      denied.items.map((e) => [e.keyId, [e.details.code, e.count, e.ip]]),
    )
    expect(byKey).toEqual({
      [scoped.record.id]: ['insufficient_scope', 2, '192.0.2.7'],
      [walled.record.id]: ['ip_not_allowed', 1, '192.0.2.8'],
      [limited.record.id]: ['rate_limited', 1, null],
      [revoked.record.id]: ['key_revoked', 1, null],
    })
    await expect(keyward.audit.verify()).resolves.toMatchObject({ ok: true })
  })

  it('answers while the audit write hangs: verification never waits on it', async () => {
    const inner = createMemoryStore()
    let release = () => {}
    const hanging = new Promise<void>((resolve) => {
      release = resolve
    })
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver)
        if (prop !== 'appendAudit') return value
        return async (events: readonly AuditEvent[]) => {
          await hanging
          return target.appendAudit(events)
        }
      },
    })
    const keyward = await createKeyward({
      store,
      peppers,
      audit: { batchSize: 1, flushIntervalMs: 3_600_000 },
    })
    opened.push(keyward)
    const { key: secret, record } = await keyward.admin.createKey({ name: 'k', scopes: ['a:read'] })
    for (let i = 0; i < 50; i++) {
      const r = await keyward.verify(secret, { scopes: ['b:write'] })
      expect(r).toMatchObject({ ok: false, code: 'insufficient_scope' })
    }
    release()
    await keyward.flush()
    const events = await keyward.audit.page({ keyId: record.id, type: 'key.denied' })
    expect(events.items.reduce((n, e) => n + e.count, 0)).toBe(50)
    await expect(verifyAuditChain(inner)).resolves.toMatchObject({ ok: true })
  })

  it('shows dropped denials in the verifier stats', async () => {
    const keyward = await createKeyward({
      store: createMemoryStore(),
      peppers,
      audit: { maxPending: 1, flushIntervalMs: 3_600_000 },
    })
    opened.push(keyward)
    const a = await keyward.createKey({ name: 'a' })
    const b = await keyward.createKey({ name: 'b' })
    await keyward.updateKey(a.record.id, { enabled: false })
    await keyward.updateKey(b.record.id, { enabled: false })
    await keyward.verify(a.key)
    await keyward.verify(b.key)
    await keyward.verify(b.key)
    expect(keyward.verifier.stats().audit).toEqual({ dropped: 2, failedFlushes: 0, pending: 1 })
  })
})

describe('the audit option of createKeyward', () => {
  it('refuses unknown settings and bad numbers, naming them', async () => {
    const store = createMemoryStore()
    await expect(
      createKeyward({ store, peppers, audit: { flush: 5 } as unknown as AuditBufferOptions }),
    ).rejects.toThrow('createKeyward "audit"')
    await expect(createKeyward({ store, peppers, audit: { flushIntervalMs: 0 } })).rejects.toThrow(
      '"audit.flushIntervalMs" must be a positive whole number, got 0',
    )
    await expect(
      createKeyward({ store, peppers, audit: { denials: 'yes' as unknown as boolean } }),
    ).rejects.toThrow('"audit.denials" must be true or false, got "yes"')
  })
})
