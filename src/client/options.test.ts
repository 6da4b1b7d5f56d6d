import { describe, expect, it } from 'vitest'
import { KeywardError } from '../core/errors.js'
import { type ClientOptions, createClient } from './index.js'

const KEY = 'kw_test_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG'

function failure(options: unknown): KeywardError {
  try {
    createClient(options as ClientOptions)
  } catch (error) {
    expect(error).toBeInstanceOf(KeywardError)
    return error as KeywardError
  }
  return expect.unreachable('createClient should have thrown')
}

describe('createClient options', () => {
  it.each([
    ['no options', undefined, /createClient needs an options object/],
    [
      'an unknown option',
      { apiKey: KEY, timeout: 5 },
      /unknown option "timeout" for createClient: expected one of apiKey, baseUrl/,
    ],
    [
      'no apiKey',
      {},
      /"apiKey" must be a non-empty string of visible ASCII characters \(no spaces\), got undefined/,
    ],
    ['an empty apiKey', { apiKey: '' }, /"apiKey" must be .*, got a string of 0 characters/],
    [
      'an apiKey with a newline',
      { apiKey: `${KEY}\n` },
      /"apiKey" must be .*, got a string of 52 characters/,
    ],
    ['a relative baseUrl', { apiKey: KEY, baseUrl: '/v1' }, /"baseUrl" must be an absolute URL/],
    [
      'a baseUrl with a query',
      { apiKey: KEY, baseUrl: 'https://a.example/?x=1' },
      /"baseUrl" must not have a query string/,
    ],
    [
      'a baseUrl with a password',
      { apiKey: KEY, baseUrl: 'https://u:p@a.example' },
      /"baseUrl" must not carry a user name or password/,
    ],
    [
      'an ftp baseUrl',
      { apiKey: KEY, baseUrl: 'ftp://a.example' },
      /"baseUrl" must be an http\(s\) URL, got the scheme ftp:/,
    ],
    [
      'plain http to another host',
      { apiKey: KEY, baseUrl: 'http://orders.internal' },
      /"baseUrl" is plain http to orders\.internal: .*"allowInsecureHttp: true"/,
    ],
    [
      'a zero timeoutMs',
      { apiKey: KEY, timeoutMs: 0 },
      /"timeoutMs" must be a positive integer of milliseconds, got 0/,
    ],
    [
      'a deadline below the timeout',
      { apiKey: KEY, timeoutMs: 5000, deadlineMs: 1000 },
      /"deadlineMs" \(1000\) must not be below "timeoutMs" \(5000\)/,
    ],
    [
      'a bad idempotency',
      { apiKey: KEY, idempotency: 'on' },
      /"idempotency" must be 'auto' or 'off', got on/,
    ],
    ['a fetch that is not a function', { apiKey: KEY, fetch: 'x' }, /"fetch" must be a function/],
    [
      'an onRetry that is not a function',
      { apiKey: KEY, onRetry: 1 },
      /"onRetry" must be a function, got number/,
    ],
    [
      'retry: true',
      { apiKey: KEY, retry: true },
      /"retry" must be an object or false, got boolean/,
    ],
    [
      'an unknown retry option',
      { apiKey: KEY, retry: { attempts: 3 } },
      /unknown option "retry.attempts" for createClient: expected one of retry.retries/,
    ],
    [
      'negative retries',
      { apiKey: KEY, retry: { retries: -1 } },
      /"retry.retries" must be an integer from 0 to 100, got -1/,
    ],
    [
      'maxDelayMs below baseDelayMs',
      { apiKey: KEY, retry: { baseDelayMs: 500, maxDelayMs: 100 } },
      /"retry.maxDelayMs" \(100\) must not be below "retry.baseDelayMs" \(500\)/,
    ],
    [
      'a success status in retryOn',
      { apiKey: KEY, retry: { retryOn: [200] } },
      /"retry.retryOn" entries must be HTTP error statuses \(400-599\), got 200/,
    ],
    [
      'token without url',
      { apiKey: KEY, token: {} },
      /"token.url" must be a URL string, got undefined/,
    ],
    [
      'a relative token url without baseUrl',
      { apiKey: KEY, token: { url: '/oauth/token' } },
      /"token.url" must be an absolute URL/,
    ],
    [
      'an unknown token option',
      { apiKey: KEY, token: { url: 'https://k.example/oauth/token', secret: 1 } },
      /unknown option "token.secret"/,
    ],
    [
      'a token url with a query',
      { apiKey: KEY, token: { url: 'https://k.example/oauth/token?api_key=x' } },
      /"token.url" must not have a query string/,
    ],
    [
      'a scope with a quote',
      { apiKey: KEY, token: { url: 'https://k.example/t', scope: ['a"b'] } },
      /"token.scope" entries must be scope names/,
    ],
    [
      'an empty scope list',
      { apiKey: KEY, token: { url: 'https://k.example/t', scope: [] } },
      /"token.scope" must be a non-empty string or array/,
    ],
    [
      'a negative refreshBeforeMs',
      { apiKey: KEY, token: { url: 'https://k.example/t', refreshBeforeMs: -1 } },
      /"token.refreshBeforeMs" must be a non-negative integer/,
    ],
    [
      'a clientId with a space',
      { apiKey: KEY, token: { url: 'https://k.example/t', clientId: 'key 1' } },
      /"token.clientId" must be a non-empty string without spaces/,
    ],
  ])('refuses %s with invalid_options', (_, options, message) => {
    const error = failure(options)
    expect(error.code).toBe('invalid_options')
    expect(error.message).toMatch(message)
    expect(error.message).not.toContain(KEY)
  })

  it('accepts the documented forms', () => {
    for (const options of [
      { apiKey: KEY },
      { apiKey: () => KEY },
      { apiKey: KEY, baseUrl: 'http://127.0.0.1:8080/v1', retry: false as const },
      { apiKey: KEY, baseUrl: 'http://localhost:3000' },
      { apiKey: KEY, baseUrl: 'http://orders.internal', allowInsecureHttp: true },
      {
        apiKey: KEY,
        baseUrl: 'https://kw.example',
        token: { url: '/oauth/token', scope: 'a:b c:d' },
      },
      { apiKey: KEY, idempotency: 'auto' as const, timeoutMs: 40_000 },
    ]) {
      expect(typeof createClient(options).fetch).toBe('function')
    }
  })
})
