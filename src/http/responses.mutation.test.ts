import { describe, expect, it } from 'vitest'
import type { DenyCode } from '../core/errors.js'
import type { VerifyDenial } from '../core/keyward.js'
import { type ApiKeyOptions, resolveApiKeyOptions } from './options.js'
import { createResponder, describeSources } from './responses.js'

// The words a refused caller reads: every denial's title and detail, and how errorBody and
// the enabled sources change them (responses.test.ts has statuses and headers).

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }
const quiet = { warn() {} }

function responder(options: Partial<ApiKeyOptions> = {}) {
  return createResponder(resolveApiKeyOptions({ keyward, logger: quiet, ...options }))
}

const HOW = 'in the X-API-Key header or as "Authorization: Bearer <key>"'

describe('what a refused caller reads', () => {
  it.each<[DenyCode, string, string]>([
    ['key_missing', 'API key missing', `No API key was sent. Send your API key ${HOW}.`],
    [
      'key_invalid',
      'Invalid API key',
      'The API key is not valid. Check that you sent the whole key exactly as issued, or ask for a new key.',
    ],
    [
      'key_revoked',
      'API key revoked',
      'This API key has been revoked. Use another key, or ask for a new one.',
    ],
    ['key_expired', 'API key expired', 'This API key has expired. Rotate it or ask for a new key.'],
    [
      'key_disabled',
      'API key disabled',
      "This API key is disabled. Ask the key's owner to enable it again, or use another key.",
    ],
    [
      'key_ambiguous',
      'More than one API key',
      `The request carries more than one API key (a repeated header, or several ways at once). Send exactly one key, once, ${HOW}.`,
    ],
    [
      'headers_truncated',
      'Too many header lines',
      `The request has more header lines than this server reads, so it cannot tell whether it carries a second API key; it was not authenticated. Send fewer headers, with your API key once ${HOW}.`,
    ],
    [
      'ip_not_allowed',
      'Address not allowed',
      "This API key may not be used from your network address. Call from an allowed address, or ask the key's owner to update its IP allowlist.",
    ],
    [
      'insufficient_scope',
      'Insufficient scope',
      'This API key lacks a scope this route needs. Use a key that has it.',
    ],
    [
      'rate_limited',
      'Rate limit exceeded',
      'Too many requests. Wait the number of seconds in the Retry-After header, then retry.',
    ],
    [
      'quota_exhausted',
      'Quota exhausted',
      'This API key has used up its quota for the current period. Retry after the number of seconds in the Retry-After header, or ask for a larger quota.',
    ],
    [
      'idempotency_key_reused',
      'Idempotency-Key reused',
      'This Idempotency-Key was already used for a different request (another method, path, query or body). Send a new Idempotency-Key with each new request; reuse one only to retry the very same request.',
    ],
    [
      'token_invalid',
      'Invalid access token',
      'The access token is not valid here: it is malformed, not signed by a key this service trusts, or issued for another issuer, audience or type. Get a new token from the token endpoint; if you sent an API key, this service wants a token it was traded for.',
    ],
    [
      'token_expired',
      'Access token expired',
      'The access token has expired. Get a new one from the token endpoint (a client should replace its token shortly before it expires).',
    ],
    [
      'token_revoked',
      'Access token revoked',
      'The API key this access token was issued for has been revoked or disabled, so the token no longer counts. Use another key.',
    ],
    [
      'token_too_large',
      'Access token too large',
      "The bearer token is larger than this service accepts; keyward's tokens are far smaller. Send the token exactly as the token endpoint issued it.",
    ],
    [
      'jwks_unavailable',
      'Token keys unavailable',
      "Your access token could not be checked because the issuer's public keys (JWKS) could not be fetched; the token was not rejected. Retry after the number of seconds in the Retry-After header.",
    ],
    [
      'store_unavailable',
      'Key store unavailable',
      'Your API key could not be checked because the key store is unreachable; the key was not rejected. Retry after the number of seconds in the Retry-After header.',
    ],
  ])('%s', (code, title, detail) => {
    const body = JSON.parse(responder()({ ok: false, code }, true).body)
    expect(body).toEqual({
      type: `urn:keyward:problem:${code}`,
      title,
      status: body.status,
      detail,
      code,
    })
  })

  it('names a single missing scope in the singular, and none without scopes', () => {
    const respond = responder()
    const one = respond(
      { ok: false, code: 'insufficient_scope', missingScopes: ['orders:write'] },
      true,
    )
    expect(JSON.parse(one.body).detail).toBe(
      "This API key lacks the scope orders:write needed here. Use a key that has it, or ask the key's owner to add it.",
    )
    expect(one.headers['www-authenticate']).toBe(
      'Bearer realm="keyward", error="insufficient_scope", scope="orders:write"',
    )
    const none = respond({ ok: false, code: 'insufficient_scope', missingScopes: [] }, true)
    expect(none.headers['www-authenticate']).toBe(
      'Bearer realm="keyward", error="insufficient_scope"',
    )
    expect(JSON.parse(none.body)).not.toHaveProperty('missingScopes')
    const unset = respond({ ok: false, code: 'insufficient_scope' }, true)
    expect(unset.headers['www-authenticate']).toBe(
      'Bearer realm="keyward", error="insufficient_scope"',
    )
  })

  it('says where to send the key for every set of sources', () => {
    expect(describeSources([], 'api_key')).toBe('the way this service documents')
    expect(describeSources(['query'], 'token')).toBe('in the token query parameter')
    expect(describeSources(['bearer', 'apikey'], 'api_key')).toBe(
      'as "Authorization: Bearer <key>" or as "Authorization: ApiKey <key>"',
    )
    expect(describeSources(['x-api-key', 'bearer', 'apikey', 'query'], 'k')).toBe(
      'in the X-API-Key header, as "Authorization: Bearer <key>", as "Authorization: ApiKey <key>" or in the k query parameter',
    )
    const body = JSON.parse(
      responder({ sources: [], getCredential: () => null })(
        { ok: false, code: 'key_missing' },
        false,
      ).body,
    )
    expect(body.detail).toBe(
      'No API key was sent. Send your API key the way this service documents.',
    )
  })

  it('rounds a denial wait up to whole seconds, at least 1, and uses the default otherwise', () => {
    const respond = responder()
    expect(
      respond({ ok: false, code: 'quota_exhausted', retryAfterSeconds: 0.2 }, true).headers[
        'retry-after'
      ],
    ).toBe('1')
    expect(respond({ ok: false, code: 'quota_exhausted' }, true).headers['retry-after']).toBe('60')
    expect(
      respond({ ok: false, code: 'store_unavailable', retryAfterSeconds: 30 }, true).headers[
        'retry-after'
      ],
    ).toBe('30')
    expect(
      respond({ ok: false, code: 'key_invalid', retryAfterSeconds: 30 }, true).headers,
    ).not.toHaveProperty('retry-after')
  })

  it('lets extra headers through and keeps its own', () => {
    const r = responder()({ ok: false, code: 'rate_limited' }, true, { ratelimit: '"d";r=0;t=1' })
    expect(r.headers).toEqual({
      'content-type': 'application/problem+json',
      'cache-control': 'no-store',
      'retry-after': '1',
      ratelimit: '"d";r=0;t=1',
    })
  })
})

describe('errorBody', () => {
  it('replaces the body; a body without a string type is plain JSON', () => {
    const seen: [unknown, VerifyDenial][] = []
    const respond = responder({
      errorBody: (problem, denial) => {
        seen.push([{ ...problem }, denial])
        // a hook that scribbles on what it gets must not change later responses
        ;(problem as { title: string }).title = 'changed'
        return { error: problem.code }
      },
    })
    const denial: VerifyDenial = { ok: false, code: 'key_revoked', keyId: 'key_a' }
    const r = respond(denial, true)
    expect(r.body).toBe('{"error":"key_revoked"}')
    expect(r.headers['content-type']).toBe('application/json')
    expect(r.status).toBe(401)
    expect(seen[0]![1]).toBe(denial)
    expect(seen[0]![0]).toMatchObject({ title: 'API key revoked', code: 'key_revoked' })
    // the problem handed over is a copy: the next response is unchanged
    respond(denial, true)
    expect(seen[1]![0]).toMatchObject({ title: 'API key revoked' })
  })

  it('sends JSON null when the hook returns nothing', () => {
    const r = responder({ errorBody: () => null as never })(
      { ok: false, code: 'key_missing' },
      false,
    )
    expect(r).toMatchObject({ status: 401, body: 'null' })
    expect(r.headers['content-type']).toBe('application/json')
  })

  it('keeps application/problem+json for a body with a string type', () => {
    const respond = responder({ errorBody: (problem) => ({ ...problem, type: 'about:blank' }) })
    const r = respond({ ok: false, code: 'key_missing' }, false)
    expect(r.headers['content-type']).toBe('application/problem+json')
    expect(JSON.parse(r.body).type).toBe('about:blank')
    const numeric = responder({ errorBody: () => ({ type: 5 }) })(
      { ok: false, code: 'key_missing' },
      false,
    )
    expect(numeric.headers['content-type']).toBe('application/json')
  })

  it('sees the missing scopes of an insufficient_scope denial', () => {
    const respond = responder({
      errorBody: (problem) => ({ missing: problem.missingScopes, detail: problem.detail }),
    })
    const r = respond({ ok: false, code: 'insufficient_scope', missingScopes: ['a:b'] }, true)
    expect(JSON.parse(r.body)).toEqual({
      missing: ['a:b'],
      detail:
        "This API key lacks the scope a:b needed here. Use a key that has it, or ask the key's owner to add it.",
    })
  })
})
