// Helpers shared by the store conformance suites (store.ts, store-audit.ts).
import { expect } from 'vitest'
import { KeywardError } from '../../src/core/errors.js'
import type {
  AuditEvent,
  KeyRecord,
  SecretRecord,
  SecretRotation,
  Store,
  StoredAuditEvent,
} from '../../src/stores/types.js'
import { base62, T0 } from '../fixtures/records.js'

export function event(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `evt_${base62(16)}`,
    at: T0,
    action: 'key.created',
    keyId: null,
    actor: null,
    details: {},
    ...overrides,
  }
}

/** An event as listed, without its place in the chain. */
export function plain(e: StoredAuditEvent): AuditEvent {
  const { seq: _s, prevHash: _p, hash: _h, ...rest } = e
  return rest
}

/** What a stored event looks like for an appended one, chain fields aside. */
export function asStored(e: AuditEvent): AuditEvent {
  return { ...e, ip: e.ip ?? null, count: e.count ?? 1 }
}

export async function expectCode(p: Promise<unknown>, code: string): Promise<KeywardError> {
  const error = await p.then(
    () => {
      throw new Error(`expected KeywardError ${code}, but the call succeeded`)
    },
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(KeywardError)
  expect((error as KeywardError).code).toBe(code)
  return error as KeywardError
}

/**
 * The conformance suite every `Store` must pass. `makeStore` returns a fresh, isolated store
 * that has not been migrated yet; the suite migrates it.
 *
 * @example
 * describeStore('memory', async () => ({ store: createMemoryStore(), cleanup: async () => {} }))
 */
/** A rotation to `secret` from the key's current hint (or `expectHint`), without events. */
export async function rotateTo(
  store: Store,
  secret: SecretRecord,
  previousExpireAt: number,
  expectHint?: string,
  audit: SecretRotation['audit'] = () => [],
): Promise<KeyRecord | null> {
  const hint = expectHint ?? (await store.getKey(secret.keyId))?.hint ?? 'none'
  return store.rotateSecret({
    secret,
    previousExpireAt,
    expectHint: hint,
    now: secret.createdAt,
    audit,
  })
}
