// The request typing each adapter adds.
import type { IncomingMessage } from 'node:http'
import type { Request } from 'express'
import type { FastifyRequest } from 'fastify'
import { Hono } from 'hono'
import { describe, expectTypeOf, it } from 'vitest'
import type { VerifiedKey } from '../../src/core/keyward.js'
import type { AuthResult } from '../../src/http/authenticate.js'
import '../../src/http/express/index.js'
import '../../src/http/fastify/index.js'
import '../../src/http/hono/index.js'
import '../../src/http/node/index.js'

describe('request typing', () => {
  it('adds apiKey to each framework request', () => {
    expectTypeOf<Request['apiKey']>().toEqualTypeOf<VerifiedKey | undefined>()
    expectTypeOf<IncomingMessage['apiKey']>().toEqualTypeOf<VerifiedKey | undefined>()
    expectTypeOf<FastifyRequest['apiKey']>().toEqualTypeOf<VerifiedKey | null>()
    new Hono().get('/', (c) => {
      expectTypeOf(c.get('apiKey')).toEqualTypeOf<VerifiedKey>()
      return c.text('ok')
    })
  })

  it('narrows AuthResult', () => {
    expectTypeOf<Extract<AuthResult, { ok: true }>['key']>().toEqualTypeOf<VerifiedKey | null>()
    expectTypeOf<Extract<AuthResult, { ok: false }>['response']['status']>().toEqualTypeOf<number>()
  })
})
