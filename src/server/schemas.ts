// JSON schemas of the API. They validate requests (unknown fields and wrong types are 400),
// shape responses (nothing outside them is ever sent) and generate /openapi.json.

const string = (maxLength: number, extra: Record<string, unknown> = {}) => ({
  type: 'string',
  maxLength,
  ...extra,
})

export const durationSchema = string(16, {
  description: 'A whole number and a unit: ms, s, m, h, d, w, y (e.g. "90d", "1m")',
  examples: ['1m'],
})

export const scopeSchema = string(200, { examples: ['orders:read'] })

const rateLimitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'limit', 'window'],
  properties: {
    name: string(32, { examples: ['minute'] }),
    limit: { type: 'integer', minimum: 1 },
    window: durationSchema,
  },
}

const quotaSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['limit', 'period'],
  properties: { limit: { type: 'integer', minimum: 1 }, period: durationSchema },
}

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] })

/** Fields a key is created with; `PATCH` takes most of them too. */
const keyFields = {
  name: string(200, { minLength: 1 }),
  owner: nullable(string(200, { minLength: 1 })),
  scopes: { type: 'array', maxItems: 100, items: scopeSchema },
  roles: { type: 'array', maxItems: 50, items: string(64) },
  expiresIn: durationSchema,
  expiresAt: nullable(string(40, { format: 'date-time' })),
  rateLimits: { type: 'array', maxItems: 10, items: rateLimitSchema },
  quota: nullable(quotaSchema),
  metadata: { type: 'object', additionalProperties: true },
  ipAllowlist: { type: 'array', maxItems: 100, items: string(64) },
}

export const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { ...keyFields, prefix: string(33, { examples: ['kw_live'] }) },
}

export const updateKeyBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { ...keyFields, enabled: { type: 'boolean' } },
}

export const rotateKeyBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    gracePeriod: { ...durationSchema, description: 'How long the old secret keeps working' },
  },
}

export const keyIdParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: string(64, { examples: ['key_0123456789abcdef'] }) },
}

export const listKeysQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    owner: string(200),
    status: { type: 'string', enum: ['active', 'revoked', 'expired', 'disabled'] },
    limit: string(4, { pattern: '^[1-9][0-9]{0,3}$', description: '1-1000, default 100' }),
    cursor: string(200, { description: 'nextCursor of the previous page' }),
  },
}

/** A key as the API shows it (see `keyToJson`). */
export const keySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    owner: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['active', 'revoked', 'expired', 'disabled'] },
    prefix: { type: 'string' },
    hint: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    roles: { type: 'array', items: { type: 'string' } },
    rateLimits: { type: 'array', items: rateLimitSchema },
    quota: nullable(quotaSchema),
    metadata: { type: 'object', additionalProperties: true },
    ipAllowlist: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
    usageCount: { type: 'integer' },
  },
}

/** A key with its secret: the answer of create and rotate, the only time the secret is shown. */
export const keyWithSecretSchema = {
  type: 'object',
  properties: {
    key: { type: 'string', description: 'The secret. Shown once: store it now.' },
    ...keySchema.properties,
  },
}

export const keyPageSchema = {
  type: 'object',
  properties: {
    items: { type: 'array', items: keySchema },
    nextCursor: { type: ['string', 'null'] },
  },
}

/** RFC 9457 problem details, as every error is sent. */
export const problemSchema = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
  },
}
