// The create form's fields: checks as the user types (the same rules as the server, so most
// mistakes are caught before sending), the request body, and which field a server problem is
// about.
import { parseDuration } from './format'

export interface KeyForm {
  name: string
  owner: string
  scopes: string
  roles: string
  expiresIn: string
  rateLimits: string
  quota: string
  metadata: string
  ipAllowlist: string
  prefix: string
}

export type Field = keyof KeyForm
export type Errors = Partial<Record<Field, string>>

export const EMPTY_FORM: KeyForm = {
  name: '',
  owner: '',
  scopes: '',
  roles: '',
  expiresIn: '',
  rateLimits: '',
  quota: '',
  metadata: '',
  ipAllowlist: '',
  prefix: '',
}

const SEGMENT = '(?:\\*|[a-z0-9][a-z0-9_.-]{0,63})'
const SCOPE_RE = new RegExp(`^${SEGMENT}(?::${SEGMENT}){0,7}$`)
const ROLE_RE = /^[a-z][a-z0-9_.-]{0,63}$/
const RULE_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/
const PREFIX_RE = /^[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?$/
const CONTROL_RE = /[\u0000-\u001f\u007f]/
const IPV4 = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?:\\.(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}'
const IPV4_RE = new RegExp(`^${IPV4}(?:/(?:3[0-2]|[12]?\\d))?$`)
const IPV6_RE = /^[0-9a-fA-F:.]{2,45}(?:\/(?:12[0-8]|1[01]\d|[1-9]?\d))?$/

/** Splits a list typed with commas, spaces or new lines. */
export function items(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

interface Rule {
  name: string
  limit: number
  window: string
}

/** `burst=20/1s, hour=1000/1h` (a name is optional for a single limit). */
function parseRates(text: string): Rule[] | string {
  const parts = items(text)
  if (parts.length > 10) return 'At most 10 rate limits.'
  const seen = new Set<string>()
  const rules: Rule[] = []
  for (const part of parts) {
    const m = /^(?:([^=]+)=)?(\d+)\/(\S+)$/.exec(part)
    if (m === null) return `"${part}" is not a rate limit: write LIMIT/WINDOW, e.g. 100/1m or burst=20/1s.`
    const name = m[1] ?? (parts.length === 1 ? 'default' : '')
    if (!RULE_NAME_RE.test(name))
      return name === ''
        ? 'Give each limit a name when there are several, e.g. burst=20/1s, hour=1000/1h.'
        : `"${name}" is not a limit name: lowercase letters, digits, "_" or "-", starting with a letter.`
    if (seen.has(name)) return `The limit name "${name}" is used twice.`
    seen.add(name)
    const limit = Number(m[2])
    if (!Number.isSafeInteger(limit) || limit < 1) return `The limit of "${part}" must be 1 or more.`
    if (parseDuration(m[3]!) === null)
      return `"${m[3]}" is not a window: a whole number and a unit (s, m, h, d), e.g. 1m.`
    rules.push({ name, limit, window: m[3]! })
  }
  return rules
}

function parseQuota(text: string): { limit: number; period: string } | string {
  const m = /^(\d+)\/(\S+)$/.exec(text.trim())
  if (m === null) return 'Write the quota as LIMIT/PERIOD, e.g. 10000/30d.'
  const limit = Number(m[1])
  if (!Number.isSafeInteger(limit) || limit < 1) return 'The quota must be 1 or more.'
  if (parseDuration(m[2]!) === null) return `"${m[2]}" is not a period: e.g. 30d.`
  return { limit, period: m[2]! }
}

function parseMetadata(text: string): Record<string, unknown> | string {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'Metadata must be a JSON object, e.g. {"team": "billing"}.'
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'Metadata must be a JSON object, e.g. {"team": "billing"}.'
  const bytes = new TextEncoder().encode(JSON.stringify(value)).length
  if (bytes > 4096) return `Metadata is ${bytes} bytes as JSON: keep it under 4096.`
  if (JSON.stringify(value).includes('\\u0000')) return 'Metadata must not contain the NUL character.'
  return value as Record<string, unknown>
}

/** The message for each field that is wrong; empty when the form can be sent. */
export function validate(form: KeyForm): Errors {
  const errors: Errors = {}
  const name = form.name.trim()
  if (name === '') errors.name = 'Give the key a name.'
  else if (name.length > 200 || CONTROL_RE.test(name)) errors.name = 'At most 200 printable characters.'
  if (form.owner.trim().length > 200 || CONTROL_RE.test(form.owner))
    errors.owner = 'At most 200 printable characters.'
  const scopes = items(form.scopes)
  const badScope = scopes.find((s) => !SCOPE_RE.test(s))
  if (badScope !== undefined)
    errors.scopes = `"${badScope}" is not a scope: write resource:action in lowercase, e.g. orders:read or orders:*.`
  else if (scopes.length > 100) errors.scopes = 'At most 100 scopes.'
  const badRole = items(form.roles).find((r) => !ROLE_RE.test(r))
  if (badRole !== undefined)
    errors.roles = `"${badRole}" is not a role name: lowercase letters, digits, "_", "." or "-", starting with a letter.`
  if (form.expiresIn.trim() !== '' && parseDuration(form.expiresIn) === null)
    errors.expiresIn = 'Write a whole number and a unit, e.g. 90d, 24h or 1y.'
  if (form.rateLimits.trim() !== '') {
    const rates = parseRates(form.rateLimits)
    if (typeof rates === 'string') errors.rateLimits = rates
  }
  if (form.quota.trim() !== '') {
    const quota = parseQuota(form.quota)
    if (typeof quota === 'string') errors.quota = quota
  }
  if (form.metadata.trim() !== '') {
    const metadata = parseMetadata(form.metadata)
    if (typeof metadata === 'string') errors.metadata = metadata
  }
  const badIp = items(form.ipAllowlist).find((ip) => !IPV4_RE.test(ip) && !(ip.includes(':') && IPV6_RE.test(ip)))
  if (badIp !== undefined)
    errors.ipAllowlist = `"${badIp}" is not an IP address or range, e.g. 10.0.0.0/8 or 2001:db8::/32.`
  if (form.prefix.trim() !== '' && !PREFIX_RE.test(form.prefix.trim()))
    errors.prefix = 'Lowercase letters and digits, optionally "_" and a second part, e.g. kw_live.'
  return errors
}

/** The body of `POST /v1/keys` for a valid form. */
export function toBody(form: KeyForm): Record<string, unknown> {
  const body: Record<string, unknown> = { name: form.name.trim() }
  if (form.owner.trim() !== '') body.owner = form.owner.trim()
  const scopes = items(form.scopes)
  if (scopes.length > 0) body.scopes = scopes
  const roles = items(form.roles)
  if (roles.length > 0) body.roles = roles
  if (form.expiresIn.trim() !== '') body.expiresIn = form.expiresIn.trim()
  if (form.rateLimits.trim() !== '') body.rateLimits = parseRates(form.rateLimits)
  if (form.quota.trim() !== '') body.quota = parseQuota(form.quota)
  if (form.metadata.trim() !== '') body.metadata = parseMetadata(form.metadata)
  const ips = items(form.ipAllowlist)
  if (ips.length > 0) body.ipAllowlist = ips
  if (form.prefix.trim() !== '') body.prefix = form.prefix.trim()
  return body
}

// which field a server message is about: schema errors name `body/<field>`, the library's
// messages start with the field's words
const MESSAGE_FIELDS: [RegExp, Field][] = [
  [/^body\/name\b|^name\b/, 'name'],
  [/^body\/owner\b|^owner\b/, 'owner'],
  [/^body\/scopes\b|^scopes?\b/, 'scopes'],
  [/^body\/roles\b|^roles?\b/, 'roles'],
  [/^body\/expires(In|At)\b|^expires(In|At)\b/, 'expiresIn'],
  [/^body\/rateLimits\b|^rateLimits\b|^rate limit/, 'rateLimits'],
  [/^body\/quota\b|^quota\b/, 'quota'],
  [/^body\/metadata\b|^metadata\b/, 'metadata'],
  [/^body\/ipAllowlist\b|^ipAllowlist\b|^IP allowlist/, 'ipAllowlist'],
  [/^body\/prefix\b|^prefix\b/, 'prefix'],
]

/** The field a problem's detail is about, or null for the form as a whole. */
export function fieldOf(detail: string): Field | null {
  for (const [re, field] of MESSAGE_FIELDS) if (re.test(detail)) return field
  return null
}
