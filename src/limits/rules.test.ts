import { describe, expect, it } from 'vitest'
import { KeywardError } from '../core/errors.js'
import { createMemoryLimiter } from './memory.js'
import { compileQuota, compileRules, Interner, partitionOf } from './rules.js'
import type { LimitRequest } from './types.js'

// What every limiter accepts and refuses is checked once, in rules.ts, for memory and Redis
// alike; the limiter contract (test/contract/limiter.ts) covers the common refusals, these the
// limits and the wording.

const limiter = createMemoryLimiter()
const rule = (patch: object = {}) => [{ name: 'default', limit: 10, windowMs: 1000, ...patch }]

async function refusal(request: Partial<LimitRequest>): Promise<KeywardError> {
  const error = await limiter
    .consume({ partition: 'key:r', rules: [], ...request } as LimitRequest)
    .then(
      () => undefined,
      (e: unknown) => e,
    )
  expect(error).toBeInstanceOf(KeywardError)
  expect((error as KeywardError).code).toBe('invalid_argument')
  return error as KeywardError
}

describe('limiter requests: what is accepted', () => {
  it('accepts every value at the edge of its range', async () => {
    const edges: Partial<LimitRequest>[] = [
      { partition: 'p'.repeat(256) },
      { partition: 'a' },
      { rules: rule({ name: `a${'b'.repeat(31)}` }) },
      { rules: rule({ name: 'a-b_c9' }) },
      { rules: rule({ limit: 1_000_000_000 }) },
      { rules: rule({ windowMs: 10 * 365 * 86_400_000 }) },
      { rules: rule({ windowMs: 1 }) },
      { quota: { limit: Number.MAX_SAFE_INTEGER, periodMs: 10 * 365 * 86_400_000 } },
      { rules: rule(), cost: 1_000_000_000 },
      { rules: rule(), cost: 0 },
      { rules: rule(), nowMs: 0 },
      { rules: rule(), idempotencyKey: '!'.repeat(255), operation: 'x' },
      { rules: rule(), idempotencyKey: '~', operation: 'o'.repeat(65_536) },
      { rules: rule(), quota: null },
    ]
    for (const patch of edges) {
      const request = { partition: 'key:edge', rules: [], ...patch } as LimitRequest
      await expect(limiter.consume(request)).resolves.toMatchObject({
        allowed: expect.any(Boolean),
      })
    }
  })

  it('answers a frozen request the same every time (checked once)', async () => {
    const request = Object.freeze({
      partition: 'key:frozen',
      rules: Object.freeze(rule({ limit: 2 })),
      nowMs: 5,
    })
    expect((await limiter.consume(request)).policies[0]!.remaining).toBe(1)
    expect((await limiter.consume(request)).policies[0]!.remaining).toBe(0)
    expect((await limiter.consume(request)).allowed).toBe(false)
  })

  it('checks a request object again when it is not frozen: it may have changed', async () => {
    const request: LimitRequest = { partition: 'key:mutable', rules: rule({ limit: 5 }), nowMs: 0 }
    expect((await limiter.consume(request)).policies[0]!.remaining).toBe(4)
    request.cost = 3
    expect((await limiter.consume(request)).policies[0]!.remaining).toBe(1)
    request.cost = -1
    await expect(limiter.consume(request)).rejects.toThrow('"cost" must be an integer')
  })
})

describe('limiter requests: what is refused, and the message', () => {
  it.each<[string, Partial<LimitRequest>, string]>([
    ['a partition of 257 characters', { partition: 'p'.repeat(257) }, 'got 257 characters'],
    ['a partition that is not a string', { partition: 7 as never }, 'got number'],
    ['a partition with DEL', { partition: 'a\u007fb' }, '"partition" must be 1-256 characters'],
    ['a partition with a tab', { partition: 'a\tb' }, 'without control characters'],
    [
      'a rule name of 33 characters',
      { rules: rule({ name: `a${'b'.repeat(32)}` }) },
      'is not valid: use 1-32 lowercase',
    ],
    [
      'a rule name starting with a digit',
      { rules: rule({ name: '1a' }) },
      'rate limit name "1a" is not valid',
    ],
    [
      'a rule name with a dot',
      { rules: rule({ name: 'a.b' }) },
      'rate limit name "a.b" is not valid',
    ],
    [
      'a rule without name',
      { rules: [{ limit: 1, windowMs: 1 }] as never },
      'rate limit name undefined',
    ],
    ['a rule that is null', { rules: [null] as never }, 'rate limit name undefined'],
    [
      'rules that are not a list',
      { rules: 'default' as never },
      '"rules" must be an array of { name, limit, windowMs }',
    ],
    [
      'a limit over 1e9',
      { rules: rule({ limit: 1_000_000_001 }) },
      '"limit" must be a positive integer up to 1000000000, got 1000000001',
    ],
    ['a fractional limit', { rules: rule({ limit: 1.5 }) }, 'got 1.5'],
    ['a limit as text', { rules: rule({ limit: '5' }) }, 'got "5"'],
    [
      'a window over 10 years',
      { rules: rule({ windowMs: 10 * 365 * 86_400_000 + 1 }) },
      '"windowMs" must be a positive integer up to 10 years',
    ],
    ['a zero window', { rules: rule({ windowMs: 0 }) }, 'got 0'],
    [
      'a quota that is not an object',
      { quota: 5 as never },
      '"quota" must be { limit, periodMs } or null',
    ],
    [
      'a fractional quota limit',
      { quota: { limit: 0.5, periodMs: 1000 } },
      'quota "limit" must be a positive integer, got 0.5',
    ],
    [
      'a quota period over 10 years',
      { quota: { limit: 1, periodMs: 10 * 365 * 86_400_000 + 1 } },
      'quota "periodMs" must be a positive integer up to 10 years',
    ],
    ['a zero quota period', { quota: { limit: 1, periodMs: 0 } }, 'got 0'],
    [
      'a cost over 1e9',
      { cost: 1_000_000_001 },
      '"cost" must be an integer from 0 to 1000000000, got 1000000001',
    ],
    ['a cost as text', { cost: '2' as never }, 'got "2"'],
    ['a negative nowMs', { nowMs: -1 }, '"nowMs" must be epoch milliseconds, got -1'],
    ['a fractional nowMs', { nowMs: 1.5 }, 'got 1.5'],
    [
      'an idempotency key of 256 characters',
      { idempotencyKey: 'k'.repeat(256), operation: 'x' },
      '"idempotencyKey" must be 1-255 visible ASCII characters',
    ],
    ['an empty idempotency key', { idempotencyKey: '', operation: 'x' }, 'got ""'],
    [
      'an idempotency key with a non-ASCII letter',
      { idempotencyKey: 'café', operation: 'x' },
      'visible ASCII',
    ],
    [
      'an operation of 65,537 characters',
      { idempotencyKey: 'k', operation: 'o'.repeat(65_537) },
      'got 65537 characters: a replay is free of quota only for the same operation',
    ],
    ['an operation that is not text', { idempotencyKey: 'k', operation: 5 as never }, 'got number'],
    [
      'no operation',
      { idempotencyKey: 'k' },
      '"idempotencyKey" needs "operation", 1-65536 characters naming what the request does (e.g. "POST /orders" and a hash of its body), got none',
    ],
    ['an empty operation', { idempotencyKey: 'k', operation: '' }, 'got 0 characters'],
  ])('%s', async (_, request, message) => {
    expect((await refusal(request)).message).toContain(message)
  })

  it('cuts a long bad idempotency key to 40 characters in the message', async () => {
    const error = await refusal({ idempotencyKey: `${'k'.repeat(50)} x`, operation: 'x' })
    expect(error.message).toContain(`got "${'k'.repeat(40)}"`)
  })

  it('refuses a partition holding a key secret, at the end or anywhere it ends', async () => {
    const secret = `kw_live_${'A1b2'.repeat(12)}C`
    for (const partition of [secret, `key:${secret}`]) {
      expect((await refusal({ partition })).message).toBe(
        '"partition" looks like an API key: partition by key id or owner id, never by the secret',
      )
    }
    // 48 characters after the "_" are not a secret
    await expect(
      limiter.consume({ partition: `key:x_${'A'.repeat(48)}`, rules: rule() }),
    ).resolves.toMatchObject({ allowed: true })
  })

  it('refuses something that is not a request', async () => {
    for (const request of [null, 'key:a', undefined]) {
      await expect(limiter.consume(request as never)).rejects.toThrow(
        'consume() takes { partition, rules, quota?, cost?, idempotencyKey?, operation? }',
      )
    }
  })

  it('refuses a partition refused once every time after', async () => {
    const partition = 'p'.repeat(300)
    await refusal({ partition })
    await refusal({ partition })
  })
})

describe('partitionOf', () => {
  it("is the key's id, or its owner's id when limits are shared by owner", () => {
    expect(partitionOf({ id: 'key_a', ownerId: 'acme' })).toBe('key:key_a')
    expect(partitionOf({ id: 'key_a', ownerId: 'acme' }, 'key')).toBe('key:key_a')
    expect(partitionOf({ id: 'key_a', ownerId: 'acme' }, 'owner')).toBe('owner:acme')
    expect(partitionOf({ id: 'key_a', ownerId: null }, 'owner')).toBe('key:key_a')
  })
})

describe('equal rule sets and quotas compile to one shared object', () => {
  // unique names and numbers: the tables are shared by the whole file
  const plan = (name: string, limit = 10, windowMs = 1000) => [{ name, limit, windowMs }]

  it('shares the compiled rules of two keys that carry equal copies of one plan', () => {
    const a = compileRules([...plan('share-a'), ...plan('share-b', 5, 60_000)])
    const b = compileRules([...plan('share-a'), ...plan('share-b', 5, 60_000)])
    expect(b).toBe(a)
    expect(Object.isFrozen(a)).toBe(true)
    expect(Object.isFrozen(a[0])).toBe(true)
    expect(a.map((r) => [r.name, r.field, r.limit, r.windowMs, r.intervalUs, r.windowUs])).toEqual([
      ['share-a', 'r:share-a', 10, 1000, 100_000, 1_000_000],
      ['share-b', 'r:share-b', 5, 60_000, 12_000_000, 60_000_000],
    ])
  })

  it('keeps rule sets apart that differ in a name, a limit, a window or their order', () => {
    const base = compileRules([...plan('apart-a'), ...plan('apart-b')])
    const others = [
      compileRules([...plan('apart-c'), ...plan('apart-b')]),
      compileRules([...plan('apart-a', 11), ...plan('apart-b')]),
      compileRules([...plan('apart-a', 10, 1001), ...plan('apart-b')]),
      compileRules([...plan('apart-b'), ...plan('apart-a')]),
      compileRules(plan('apart-a')),
    ]
    for (const other of others) expect(other).not.toBe(base)
    expect(others[3]!.map((r) => r.name)).toEqual(['apart-b', 'apart-a'])
    expect(others[1]![0]!.limit).toBe(11)
    expect(others[2]![0]!.windowMs).toBe(1001)
  })

  it('shares equal quotas and keeps different ones apart', () => {
    const q = compileQuota({ limit: 7_001, periodMs: 86_400_000 })
    expect(compileQuota({ limit: 7_001, periodMs: 86_400_000 })).toBe(q)
    expect(Object.isFrozen(q)).toBe(true)
    expect(q).toEqual({ limit: 7_001, periodMs: 86_400_000, periodUs: 86_400_000_000 })
    expect(compileQuota({ limit: 7_002, periodMs: 86_400_000 })).not.toBe(q)
    expect(compileQuota({ limit: 7_001, periodMs: 3_600_000 })).not.toBe(q)
  })

  it('starts over past its capacity, and shares again from then on', () => {
    const table = new Interner<string[]>(3)
    const first = ['first']
    expect(table.intern('a', first)).toBe(first)
    expect(table.intern('a', ['again'])).toBe(first)
    table.intern('b', ['b'])
    table.intern('c', ['c'])
    // three contents held: 'a' is still shared
    expect(table.intern('a', ['again'])).toBe(first)
    // a fourth starts over: 'a' is forgotten, and what comes next is shared
    table.intern('d', ['d'])
    const second = ['second']
    expect(table.intern('a', second)).toBe(second)
    expect(table.intern('a', ['third'])).toBe(second)
  })
})
