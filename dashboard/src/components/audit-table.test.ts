import { describe, expect, it } from 'vitest'
import { describeDetails } from './audit-table'

describe('audit details as the table shows them', () => {
  it('writes epoch-ms times (fields named …At) as UTC times and other values as they are', () => {
    expect(
      describeDetails({
        code: 'insufficient_scope',
        lastAt: Date.UTC(2026, 10, 30, 17, 5, 42),
        graceMs: 86_400_000,
        hint: { from: 'kw_live_AbCd…wxyz', to: 'kw_live_EfGh…stuv' },
      }),
    ).toBe(
      'code: insufficient_scope · lastAt: 2026-11-30 17:05 UTC · graceMs: 86400000 · hint: {"from":"kw_live_AbCd…wxyz","to":"kw_live_EfGh…stuv"}',
    )
  })

  it('leaves a field named …At that is not a number alone', () => {
    expect(describeDetails({ expiresAt: null, seenAt: '2026-11-30' })).toBe(
      'expiresAt: null · seenAt: 2026-11-30',
    )
  })
})
