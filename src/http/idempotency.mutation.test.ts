import { describe, expect, it } from 'vitest'
import type { RequestView } from './credentials.js'
import { idempotencyKeyOf, operationOf } from './idempotency.js'

// The operation an Idempotency-Key is bound to, at its edges (idempotency.test.ts has the
// common cases).

function view(rest: Partial<RequestView>, headers: Record<string, string> = {}): RequestView {
  return { method: 'POST', url: '/', ip: undefined, header: (name) => headers[name], ...rest }
}

describe('operationOf', () => {
  it('hashes exactly the bytes a view of a larger buffer shows', () => {
    const whole = operationOf(view({ url: '/o', body: Buffer.from('abc') }), null)
    const slice = Buffer.from('xxabcyy').subarray(2, 5)
    expect(operationOf(view({ url: '/o', body: slice }), null)).toBe(whole)
    expect(operationOf(view({ url: '/o', body: new Uint8Array([97, 98, 99]) }), null)).toBe(whole)
    expect(operationOf(view({ url: '/o', body: 'abc' }), null)).toBe(whole)
  })

  it('ends the target at the fragment, even before a ?', () => {
    expect(operationOf(view({ url: '/o#frag?a=1' }), null)).toBe('POST /o')
    expect(operationOf(view({ url: '/o?a=1#frag&b=2' }), null)).toBe('POST /o?a=1')
  })

  it('keeps only the path of an absolute URL, or / without one', () => {
    expect(operationOf(view({ url: 'https://api.example.com?a=1' }), null)).toBe('POST /')
    expect(operationOf(view({ url: 'https://api.example.com/p/q?a=1' }), null)).toBe(
      'POST /p/q?a=1',
    )
    expect(operationOf(view({ url: '*', method: 'OPTIONS' }), null)).toBe('OPTIONS /')
    // neither a path nor an absolute URL: no path to keep
    expect(operationOf(view({ url: 'api.example.com/p/q' }), null)).toBe('POST /')
  })

  it('drops the credential parameter and nothing else', () => {
    expect(operationOf(view({ url: '/o?key=1&api_key=2&key=3' }), 'key')).toBe('POST /o?api_key=2')
    expect(operationOf(view({ url: '/o?key=1' }), 'key')).toBe('POST /o')
  })

  it('has no body part without a body', () => {
    expect(operationOf(view({ url: '/o', body: undefined }), null)).toBe('POST /o')
    expect(operationOf(view({ url: '/o', body: '' }), null)).toMatch(/^POST \/o [\w-]{43}$/)
    expect(operationOf(view({ url: '/o', body: 0 }), null)).toMatch(/^POST \/o [\w-]{43}$/)
  })
})

describe('idempotencyKeyOf', () => {
  it('takes 255 visible characters and trims tabs', () => {
    const key = '~'.repeat(255)
    expect(idempotencyKeyOf(view({}, { 'idempotency-key': `\t${key}\t` }))).toBe(key)
    expect(idempotencyKeyOf(view({}, { 'idempotency-key': 'a\u00e9' }))).toBeUndefined()
    expect(idempotencyKeyOf(view({}, { 'idempotency-key': 'a\u007f' }))).toBeUndefined()
  })
})
