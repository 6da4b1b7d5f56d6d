// The audit trail, newest first, with filters; "Load more" follows the API's cursor.
import { useEffect, useRef, useState } from 'preact/hooks'
import { type AuditItem, type AuditPage, call, query } from '../api'
import { AuditTable } from '../components/audit-table'
import { ErrorNote, messageOf } from '../load'

const TYPES = [
  'key.created',
  'key.imported',
  'key.updated',
  'key.rotated',
  'key.rotation_finished',
  'key.revoked',
  'key.denied',
  'role.set',
  'role.deleted',
  'policy.changed',
]

const SINCE: [string, string, number][] = [
  ['', 'any time', 0],
  ['1h', 'last hour', 3_600_000],
  ['24h', 'last 24 hours', 86_400_000],
  ['7d', 'last 7 days', 7 * 86_400_000],
  ['30d', 'last 30 days', 30 * 86_400_000],
]

export function AuditScreen() {
  const [keyId, setKeyId] = useState('')
  const [actor, setActor] = useState('')
  const [type, setType] = useState('')
  const [since, setSince] = useState('')
  const [items, setItems] = useState<AuditItem[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [loading, setLoading] = useState(false)
  const filters = { keyId: keyId.trim(), actor: actor.trim(), type, since }

  // filters change faster than answers come: only the answer to the latest request is shown
  const latest = useRef(0)

  async function load(cursor: string | null) {
    const ticket = ++latest.current
    setLoading(true)
    try {
      const ms = SINCE.find(([v]) => v === since)?.[2] ?? 0
      const from = ms === 0 ? undefined : new Date(Date.now() - ms).toISOString()
      const page = await call<AuditPage>(
        'GET',
        `/v1/audit${query({ keyId: filters.keyId, actor: filters.actor, type, since: from, limit: 50, cursor })}`,
      )
      if (ticket !== latest.current) return
      setItems(cursor === null ? page.items : [...items, ...page.items])
      setNext(page.nextCursor)
      setError(null)
    } catch (e) {
      if (ticket === latest.current) setError(messageOf(e))
    } finally {
      if (ticket === latest.current) setLoading(false)
    }
  }

  useEffect(() => {
    void load(null)
  }, [JSON.stringify(filters)])

  return (
    <main id="main" tabIndex={-1}>
      <h1>Audit trail</h1>
      {/* text filters apply on change (Enter or leaving the field); uncontrolled, so a
          re-render while typing never resets them */}
      <form class="filters" aria-label="Filter events" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="a-key">Key id</label>
          <input id="a-key" defaultValue="" placeholder="key_…" onChange={(e) => setKeyId(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="a-actor">Actor</label>
          <input id="a-actor" defaultValue="" placeholder="key_…" onChange={(e) => setActor(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="a-type">Event</label>
          <select id="a-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value="">any</option>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="a-since">Since</label>
          <select id="a-since" value={since} onChange={(e) => setSince(e.currentTarget.value)}>
            {SINCE.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </form>
      <ErrorNote error={error} />
      <AuditTable items={items} showKey caption="Audit events" />
      <div class="pager">
        <span aria-live="polite">{loading ? 'Loading…' : `${items.length} events`}</span>
        {next !== null && (
          <button type="button" disabled={loading} onClick={() => load(next)}>
            Load more
          </button>
        )}
      </div>
    </main>
  )
}
