import { describe, expect, it } from 'vitest'
import { compilePattern, matchPattern, normalizePath } from './path.js'

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/orders/1', '/orders/1'],
    ['/a//b///c', '/a/b/c'],
    ['//a', '/a'],
    ['/a/./b', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/../../a', '/a'],
    ['/a/%2e%2e/b', '/b'],
    ['/a/%2E./b', '/b'],
    ['/a/.%2e', '/'],
    ['/%61%62', '/ab'],
    ['/a%3bb', '/a%3Bb'],
    ['/a%c3%a9', '/a%C3%A9'],
    ['/a b{}', '/a%20b%7B%7D'],
    ['/caf\u00e9', '/caf%E9'],
    ['/a/', '/a/'],
    ['/a;v=1/b', '/a;v=1/b'],
    ["/!$&'()*+,;=:@-._~", "/!$&'()*+,;=:@-._~"],
  ])('%s is %s', (raw, normal) => {
    expect(normalizePath(raw)).toEqual({ ok: true, path: normal })
  })

  it.each([
    ['a/b', 'must start with "/"'],
    ['/a%2Fb', 'encoded "/"'],
    ['/a%2fb', 'encoded "/"'],
    ['/a%5Cb', 'encoded "/" or "\\"'],
    ['/a\\b', 'a "\\"'],
    ['/a%00', 'control character'],
    ['/a%0d%0a', 'control character'],
    ['/a\u0001', 'control character'],
    ['/a%', 'does not start a percent-encoded byte'],
    ['/a%g1', 'does not start a percent-encoded byte'],
    ['/a/..;/b', '";" parameters'],
    ['/a/.;x/b', '";" parameters'],
    ['/a/%2e%2e;/b', '";" parameters'],
    ['/\u0100', 'not a byte'],
  ])('%s is refused (%s)', (raw, reason) => {
    const r = normalizePath(raw)
    expect(r.ok).toBe(false)
    expect((r as { reason: string }).reason).toContain(reason)
  })
})

describe('path patterns', () => {
  const match = (pattern: string, path: string) =>
    matchPattern(compilePattern(pattern), path.slice(1).split('/'))

  it.each([
    ['/', '/', true],
    ['/', '/a', false],
    ['/orders', '/orders', true],
    ['/orders', '/orders/', false],
    ['/orders', '/orders/1', false],
    ['/orders/*', '/orders/1', true],
    ['/orders/:id', '/orders/1', true],
    ['/orders/*', '/orders/', false],
    ['/orders/*', '/orders/1/items', false],
    ['/orders/:id/items', '/orders/1/items', true],
    ['/orders/**', '/orders', true],
    ['/orders/**', '/orders/', true],
    ['/orders/**', '/orders/1/items/2', true],
    ['/orders/**', '/ordersx', false],
    ['/**', '/', true],
    ['/**', '/anything/at/all', true],
    ['/a%3Bb', '/a%3Bb', true],
  ])('%s against %s: %s', (pattern, path, expected) => {
    expect(match(pattern, path)).toBe(expected)
  })

  it.each([
    ['orders', 'must start with "/"'],
    ['/a/**/b', 'only as its last segment'],
    ['/a*', 'only as a whole segment'],
    ['/a//b', 'empty segments'],
    ['/a/../b', 'normal form'],
    ['/a/./b', 'normal form'],
    ['/%61', 'normal form'],
    ['/a%3bb', 'normal form'],
    ['/a%2Fb', 'cannot be matched'],
  ])('%s is refused (%s)', (pattern, message) => {
    expect(() => compilePattern(pattern)).toThrow(message)
  })
})
