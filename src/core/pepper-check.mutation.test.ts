// The pepper check at start-up: a store records a check value per pepper version on first use,
// and a process with another pepper, or without one its secrets need, refuses to start.
import { describe, expect, it } from 'vitest'
import { KeywardError } from './errors.js'
import { createHasher } from './hash.js'
import { checkPeppers } from './pepper-check.js'
import type { Store } from './types.js'

const v1 = { version: 1, secret: 'pepper-check-test-pepper-v1-0123456789abc' }
const v2 = { version: 2, secret: 'pepper-check-test-pepper-v2-0123456789abc' }

/** The two store methods the check uses; `stored` answers setMetaIfAbsent per name. */
function fakeStore(stored: Record<string, string>, used: number[] = []) {
  const asked: string[] = []
  const store = {
    kind: 'sqlite',
    async setMetaIfAbsent(name: string, value: string) {
      asked.push(name)
      stored[name] ??= value
      return stored[name]
    },
    async pepperVersions() {
      return used
    },
  } as unknown as Store
  return { store, asked, stored }
}

describe('checkPeppers', () => {
  it('records a check value per version on first use, and passes with the same peppers', async () => {
    const hasher = createHasher([v2, v1])
    const { store, asked, stored } = fakeStore({}, [1, 2])
    await checkPeppers(store, hasher)
    expect(asked).toEqual(['pepper_check_v2', 'pepper_check_v1'])
    expect(stored).toEqual({
      pepper_check_v2: hasher.checkValue(2),
      pepper_check_v1: hasher.checkValue(1),
    })
    await expect(checkPeppers(store, createHasher([v1, v2]))).resolves.toBeUndefined()
  })

  it('refuses another pepper under a recorded version, naming the version and the store', async () => {
    const mismatch = new KeywardError(
      'pepper_mismatch',
      'the pepper v1 configured here is not the one this sqlite store was created with, so no stored key could verify: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE to the original pepper',
    )
    const other = createHasher([{ version: 1, secret: v2.secret }])
    const recorded = { pepper_check_v1: createHasher([v1]).checkValue(1) }
    await expect(checkPeppers(fakeStore({ ...recorded }).store, other)).rejects.toThrow(mismatch)
    // a recorded value of another length (another format) is refused the same way
    const short = { pepper_check_v1: 'abc' }
    await expect(checkPeppers(fakeStore(short).store, other)).rejects.toThrow(mismatch)
  })

  it('refuses a store whose secrets need a pepper not configured', async () => {
    const { store } = fakeStore({}, [1, 2, 3])
    await expect(checkPeppers(store, createHasher([v2]))).rejects.toThrow(
      new KeywardError(
        'pepper_mismatch',
        'this store holds secrets hashed with pepper v1, v3, which is not configured: add it to KEYWARD_PEPPER as "v1:<secret>" next to the newer one',
      ),
    )
  })
})
