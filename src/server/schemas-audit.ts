// JSON schemas of the audit trail and expiry policy routes (see schemas.ts for the others).
import { durationSchema } from './schemas.js'

const string = (maxLength: number, extra: Record<string, unknown> = {}) => ({
  type: 'string',
  maxLength,
  ...extra,
})

export const auditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keyId: string(64, { description: 'Events of this key', examples: ['key_0123456789abcdef'] }),
    actor: string(200, { description: 'Events by this actor: an admin key id, or cli:<user>' }),
    type: string(64, {
      description:
        'Events of this type: key.created, key.imported, key.updated, key.rotated, key.rotation_finished, key.revoked, key.denied, role.set, role.deleted, policy.changed',
    }),
    since: string(40, { format: 'date-time', description: 'ISO 8601 time: events at or after it' }),
    until: string(40, { format: 'date-time', description: 'ISO 8601 time: events before it' }),
    limit: string(4, { pattern: '^[1-9][0-9]{0,3}$', description: '1-1000, default 100' }),
    cursor: string(200, { description: 'nextCursor of the previous page' }),
  },
}

export const auditEventSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    seq: { type: 'integer', description: 'Position in the hash chain' },
    at: { type: 'string', format: 'date-time' },
    type: { type: 'string' },
    keyId: { type: ['string', 'null'] },
    actor: { type: ['string', 'null'] },
    ip: { type: ['string', 'null'] },
    details: {
      type: 'object',
      additionalProperties: true,
      description:
        'What changed (field names, and old -> new values of fields that are not secret), or for key.denied the code',
    },
    count: {
      type: 'integer',
      description: 'key.denied: identical denials (same key, code and minute) merged into this event',
    },
  },
}

export const auditPageSchema = {
  type: 'object',
  properties: {
    items: { type: 'array', items: auditEventSchema },
    nextCursor: { type: ['string', 'null'] },
  },
}

export const expiryPolicySchema = {
  type: 'object',
  properties: {
    maxAge: { type: ['string', 'null'], description: 'Global maximum key age, e.g. "90d"; null: none' },
    owners: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: "Owner -> its own maximum age (replaces the global one for the owner's keys)",
    },
  },
}

export const putPolicyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['maxAge'],
  properties: {
    maxAge: {
      anyOf: [durationSchema, { type: 'null' }],
      description: 'The maximum age of a key\'s current secret, e.g. "90d"; null removes it',
    },
    owner: string(200, {
      minLength: 1,
      description: "Set the owner's own maximum age instead of the global one",
    }),
  },
}
