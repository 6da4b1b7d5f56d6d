import { describe, expect, it } from 'vitest'
import { ScriptSpecs, scriptArgs, type WireDecision } from './redis-wire.js'
import { checkRequest } from './rules.js'
import type { LimitRequest } from './types.js'

// The script's arguments as they leave for Redis (redis-script.ts): what a batch costs on the
// wire and in the script grows with its distinct rule sets, not with its decisions.

const decision = (partition: string, request: Partial<LimitRequest>): WireDecision => ({
  req: checkRequest({ partition, rules: [], ...request }),
  stateKey: `kw:l:{${partition}}`,
  idemKey: undefined,
})

describe('a batch on the wire', () => {
  it('carries a plan once for many keys that each hold their own copy of it', () => {
    // as keys read from the store: equal rules and quotas, each in its own objects
    const plan = () => ({
      rules: [{ name: 'minute', limit: 100, windowMs: 60_000 }],
      quota: { limit: 5000, periodMs: 86_400_000 },
    })
    const entries = ['key:a', 'key:b', 'key:c'].map((p) => decision(p, plan()))
    const { numKeys, args } = scriptArgs(entries, new ScriptSpecs(), '86400000', '')
    expect(numKeys).toBe(3)
    expect(args).toEqual([
      'kw:l:{key:a}',
      'kw:l:{key:b}',
      'kw:l:{key:c}',
      '3',
      '86400000',
      '',
      // each decision: the position of its rule set, the same for all three
      '7',
      '7',
      '7',
      // the rule set, once: 1 rule, the quota's limit and period (µs), its field, T and limit
      '1',
      '5000',
      '86400000000',
      'r:minute',
      '600000',
      '100',
    ])
  })

  it('carries each distinct plan once, and points every decision at its own', () => {
    const small = { rules: [{ name: 'minute', limit: 10, windowMs: 60_000 }] }
    const large = { rules: [{ name: 'minute', limit: 1000, windowMs: 60_000 }] }
    const entries = [
      decision('key:a', { rules: [...small.rules] }),
      decision('key:b', { rules: [...large.rules] }),
      decision('key:c', { rules: [...small.rules] }),
    ]
    const { args } = scriptArgs(entries, new ScriptSpecs(), '1000', '123')
    expect(args.slice(3)).toEqual(
      ['3', '1000', '123', '7', '13', '7']
        .concat(['1', '0', '0', 'r:minute', '6000000', '10'])
        .concat(['1', '0', '0', 'r:minute', '60000', '1000']),
    )
  })
})
