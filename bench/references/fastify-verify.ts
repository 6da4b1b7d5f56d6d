// The reference point of bench/server: a verify endpoint written by hand with Fastify, the way
// its documentation writes routes (JSON schemas for the body and the answer). The caller's
// X-API-Key and the key in the body are looked up by their sha256 in a Map; the answer has the
// same JSON as keyward's POST /v1/keys/verify. No checksum, no cache, no limits, no audit, no
// problem+json: what a team writes first.
// BENCH_REFERENCE_KEYS: a file of `sha256-hex<TAB>JSON of { keyId, owner, name, scopes,
// metadata, expiresAt }` lines.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

interface KeyInfo {
  keyId: string
  owner: string | null
  name: string
  scopes: string[]
  metadata: Record<string, unknown>
  expiresAt: string | null
}

const keys = new Map<string, KeyInfo>()
for (const line of readFileSync(process.env.BENCH_REFERENCE_KEYS!, 'utf8').split('\n')) {
  const tab = line.indexOf('\t')
  if (tab > 0) keys.set(line.slice(0, tab), JSON.parse(line.slice(tab + 1)) as KeyInfo)
}
const lookup = (key: unknown) =>
  typeof key === 'string' ? keys.get(createHash('sha256').update(key).digest('hex')) : undefined

const app = Fastify()

app.get('/healthz', async () => ({ status: 'ok' }))

app.post<{ Body: { key: string; scopes?: string[] } }>(
  '/v1/keys/verify',
  {
    onRequest: async (request, reply) => {
      if (!lookup(request.headers['x-api-key'])?.scopes.includes('keys:verify'))
        return reply.code(401).send({ error: 'invalid API key' })
    },
    schema: {
      body: {
        type: 'object',
        required: ['key'],
        additionalProperties: false,
        properties: {
          key: { type: 'string', maxLength: 256 },
          scopes: { type: 'array', items: { type: 'string' } },
        },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            valid: { type: 'boolean' },
            code: { type: 'string' },
            keyId: { type: ['string', 'null'] },
            owner: { type: ['string', 'null'] },
            name: { type: ['string', 'null'] },
            scopes: { type: ['array', 'null'], items: { type: 'string' } },
            metadata: { type: ['object', 'null'], additionalProperties: true },
            expiresAt: { type: ['string', 'null'] },
            ratelimit: { type: 'null' },
          },
        },
      },
    },
  },
  async (request) => {
    const found = lookup(request.body.key)
    if (found === undefined) {
      return {
        valid: false,
        code: 'key_invalid',
        keyId: null,
        owner: null,
        name: null,
        scopes: null,
        metadata: null,
        expiresAt: null,
        ratelimit: null,
      }
    }
    const missing = (request.body.scopes ?? []).some((s) => !found.scopes.includes(s))
    return {
      valid: !missing,
      code: missing ? 'insufficient_scope' : 'valid',
      ...found,
      ratelimit: null,
    }
  },
)

await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
console.log(
  `listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
)
process.on('SIGTERM', () => {
  app.close().then(() => process.exit(0))
})
