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
    expectHint: string(64, {
      description:
        'The hint of the secret you mean to replace (as you last read it): when the key was rotated meanwhile, the answer is 409 and nothing changes',
    }),
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
    status: {
      type: 'string',
      enum: ['active', 'revoked', 'expired', 'disabled'],
      description: 'active and expired are judged at the time of the request',
    },
    prefix: string(33, { description: 'Keys with this prefix', examples: ['kw_live'] }),
    scope: string(200, {
      description:
        'Keys whose own scopes include this one exactly (no wildcard matching, not through roles)',
      examples: ['orders:read'],
    }),
    expiringBefore: string(40, {
      format: 'date-time',
      description:
        'ISO 8601 time: keys whose expiry is before it and still ahead, in any state (add status=active for keys that still work)',
      examples: ['2030-01-01T00:00:00Z'],
    }),
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
    rotatedAt: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'When the current secret was issued by a rotation (null: never rotated)',
    },
    pastPolicy: {
      type: 'boolean',
      description: "True when the current secret is older than the expiry policy's maximum age for this key",
    },
    policy: {
      type: 'object',
      properties: {
        maxAge: { type: ['string', 'null'], description: 'The maximum age that applies (owner, else global), e.g. "90d"' },
        pastPolicy: { type: 'boolean' },
      },
    },
    secrets: {
      type: 'array',
      description: 'GET /v1/keys/:id only: every secret of the key, newest first',
      items: {
        type: 'object',
        properties: {
          hint: { type: 'string' },
          state: { type: 'string', enum: ['current', 'grace', 'expired'] },
          current: { type: 'boolean' },
          createdAt: { type: 'string', format: 'date-time' },
          expiresAt: {
            type: ['string', 'null'],
            format: 'date-time',
            description: 'Until when it verifies (the end of its grace period); null: no end',
          },
          lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
          imported: { type: 'boolean' },
          pepperVersion: { type: 'integer' },
        },
      },
    },
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

/** The error responses of every route, for `schema.response`. */
export const problemResponses = { '4xx': problemSchema, '5xx': problemSchema }

export const roleNameParams = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: string(64, { examples: ['reader'] }) },
}

export const putRoleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['scopes'],
  properties: {
    scopes: {
      type: 'array',
      maxItems: 100,
      items: scopeSchema,
      description: 'The role grants these scopes',
    },
  },
}

/** A role: a named set of scopes that keys hold through their `roles`. */
export const roleSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
  },
}

export const roleListSchema = {
  type: 'object',
  properties: { items: { type: 'array', items: roleSchema } },
}

export const verifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['key'],
  properties: {
    key: string(1024, { description: 'The API key to check, exactly as the client sent it' }),
    scopes: {
      type: 'array',
      maxItems: 100,
      items: scopeSchema,
      description: 'Scopes the request needs; all must be granted',
    },
    cost: {
      type: 'integer',
      minimum: 0,
      maximum: 1_000_000_000,
      description:
        "Units the request uses from the key's rate limits and quota (default 1; 0 reads them without charging)",
    },
    idempotencyKey: string(255, {
      pattern: '^[\\x21-\\x7e]+$',
      description:
        "The client's Idempotency-Key: a retry of the same operation is not charged to the quota again. Needs operation.",
    }),
    operation: string(2048, {
      minLength: 1,
      description:
        'What the request does, binding idempotencyKey, e.g. "POST /orders" (add a hash of the body to bind that too)',
      examples: ['POST /orders'],
    }),
    ip: string(64, {
      description: "The client's IP address, checked against the key's IP allowlist",
    }),
    tag: string(128, {
      minLength: 1,
      pattern: '^[\\x20-\\x3e\\x40-\\x7e]+$',
      description:
        'What usage analytics count this call under: your route pattern or a name (no "?", never a URL with its query)',
      examples: ['/orders/:id'],
    }),
  },
}

// a type list, not anyOf: the serializer picks an anyOf branch by validating each one, per answer
const policySchema = {
  type: ['object', 'null'],
  properties: {
    limit: { type: 'integer' },
    remaining: { type: 'integer' },
    resetMs: { type: 'integer' },
  },
}

/** The answer of `POST /v1/keys/verify`: 200 for valid and refused keys alike. */
export const verifyAnswerSchema = {
  type: 'object',
  properties: {
    valid: { type: 'boolean' },
    code: {
      type: 'string',
      description:
        'valid, or why not: key_invalid, key_revoked, key_expired, key_disabled, ip_not_allowed, insufficient_scope, rate_limited, quota_exhausted, idempotency_key_reused',
    },
    keyId: { type: ['string', 'null'] },
    owner: { type: ['string', 'null'] },
    name: { type: ['string', 'null'] },
    scopes: { type: ['array', 'null'], items: { type: 'string' } },
    metadata: { type: ['object', 'null'], additionalProperties: true },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    ratelimit: {
      ...policySchema,
      description:
        "The key's most constraining limit after this request (fewest units left), or null when it has none",
    },
    missingScopes: {
      type: 'array',
      items: { type: 'string' },
      description: 'For insufficient_scope: the required scopes the key lacks',
    },
    retryAfter: {
      type: 'integer',
      description: 'For rate_limited and quota_exhausted: seconds until the same request can pass',
    },
    deprecation: {
      type: 'string',
      format: 'date-time',
      description:
        'Only when the key was sent with an old secret inside its rotation grace period: when it was superseded (the Deprecation header the middleware sends, RFC 9745)',
    },
    sunset: {
      type: 'string',
      format: 'date-time',
      description:
        'With deprecation: when the old secret stops working (the Sunset header, RFC 8594); switch to the new secret before then',
    },
  },
}

export const usageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: string(40, {
      description: 'How far back: a duration ("1h", "24h", "30d") or an ISO time. Default 24h',
      examples: ['24h'],
    }),
    step: {
      type: 'string',
      enum: ['1m', '1h', '1d'],
      description:
        'Width of the series buckets. Default: 1m up to 6 hours back, 1h up to 7 days, else 1d. Minute data older than the roll-up age exists per hour only',
    },
  },
}

export const usageOverviewQuery = {
  ...usageQuery,
  properties: {
    ...usageQuery.properties,
    top: string(3, {
      pattern: '^[1-9][0-9]?$|^100$',
      description: 'How many keys each top list holds, 1-100. Default 10',
    }),
  },
}

const countsSchema = {
  type: 'object',
  additionalProperties: { type: 'integer' },
  description:
    'Verifications by outcome: valid, or the denial code (insufficient_scope, rate_limited, key_revoked, …)',
}

const usageSeriesFields = {
  since: { type: 'string', format: 'date-time' },
  until: { type: 'string', format: 'date-time' },
  step: { type: 'string' },
  series: {
    type: 'array',
    description: 'Buckets that saw verifications, oldest first',
    items: {
      type: 'object',
      properties: { at: { type: 'string', format: 'date-time' }, counts: countsSchema },
    },
  },
  totals: countsSchema,
}

export const keyUsageSchema = {
  type: 'object',
  properties: {
    keyId: { type: 'string' },
    ...usageSeriesFields,
    firstIp: {
      type: ['string', 'null'],
      description: 'Client address of the first verification in the range',
    },
    lastIp: {
      type: ['string', 'null'],
      description: 'Client address of the last verification in the range',
    },
    routes: {
      type: 'array',
      description:
        'Route patterns or tags the verifications were counted under, busiest first ("" untagged, "other" past the per-minute tag limit)',
      items: {
        type: 'object',
        properties: { tag: { type: 'string' }, total: { type: 'integer' } },
      },
    },
  },
}

const topKeySchema = (count: 'total' | 'denied') => ({
  type: 'array',
  items: {
    type: 'object',
    properties: {
      keyId: { type: 'string' },
      name: { type: 'string' },
      [count]: { type: 'integer' },
    },
  },
})

export const usageOverviewSchema = {
  type: 'object',
  properties: {
    ...usageSeriesFields,
    topByTraffic: { ...topKeySchema('total'), description: 'Keys with the most verifications' },
    topByDenials: { ...topKeySchema('denied'), description: 'Keys with the most denials' },
  },
}
