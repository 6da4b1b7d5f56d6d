// One key: details, its secrets and grace periods, usage by outcome, its audit events, and
// rotate / revoke behind confirmations that name it.
import { useMemo, useState } from 'preact/hooks'
import { type ApiKey, type AuditPage, call, type KeyUsage, type KeyWithSecret, query } from '../api'
import { AuditTable } from '../components/audit-table'
import { fillSeries, UsageChart } from '../components/chart'
import { Dialog } from '../components/dialog'
import { Scopes, StatusBadge } from '../components/key-bits'
import { SecretOnce } from '../components/secret-once'
import { absolute, formatNumber, relative } from '../format'
import { ErrorNote, messageOf, useLoad } from '../load'

const RANGES: [string, string, string][] = [
  ['1h', '1m', 'Last hour'],
  ['24h', '1h', 'Last day'],
  ['30d', '1d', 'Last 30 days'],
]

const GRACES: [string, string][] = [
  ['0s', 'none: the old secret stops now'],
  ['1h', '1 hour'],
  ['24h', '24 hours'],
  ['7d', '7 days'],
]

function Detail(props: { label: string; children: preact.ComponentChildren }) {
  return (
    <div class="detail">
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  )
}

export function KeyPage(props: { id: string; canWrite: boolean; canAudit: boolean }) {
  const { id } = props
  const key = useLoad(() => call<ApiKey>('GET', `/v1/keys/${encodeURIComponent(id)}`), [id])
  const [range, setRange] = useState('24h')
  const step = RANGES.find(([r]) => r === range)![1]
  const usage = useLoad(
    () => call<KeyUsage>('GET', `/v1/keys/${encodeURIComponent(id)}/usage${query({ since: range, step })}`),
    [id, range],
  )
  const audit = useLoad(
    () =>
      props.canAudit
        ? call<AuditPage>('GET', `/v1/audit${query({ keyId: id, limit: 20 })}`)
        : Promise.resolve({ items: [], nextCursor: null }),
    [id],
  )
  const series = useMemo(
    () => (usage.data === null ? null : fillSeries(usage.data.series, usage.data.since, usage.data.until, usage.data.step)),
    [usage.data],
  )
  const [dialog, setDialog] = useState<'rotate' | 'revoke' | null>(null)
  const [grace, setGrace] = useState('24h')
  const [actionError, setActionError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [rotated, setRotated] = useState<KeyWithSecret | null>(null)
  const [notice, setNotice] = useState<string | null>(null)

  async function act(kind: 'rotate' | 'revoke') {
    setBusy(true)
    setActionError(null)
    try {
      if (kind === 'rotate') {
        const answer = await call<KeyWithSecret>('POST', `/v1/keys/${encodeURIComponent(id)}/rotate`, {
          body: { gracePeriod: grace },
        })
        setRotated(answer)
      } else {
        await call<ApiKey>('DELETE', `/v1/keys/${encodeURIComponent(id)}`)
        setNotice(`${key.data?.name ?? id} is revoked: calls with it are refused from now on.`)
      }
      setDialog(null)
      key.reload()
      audit.reload()
    } catch (error) {
      setActionError(messageOf(error))
    } finally {
      setBusy(false)
    }
  }

  if (key.data === null)
    return (
      <main id="main" tabIndex={-1}>
        <h1>Key {id}</h1>
        {key.loading ? <p>Loading…</p> : <ErrorNote error={key.error} />}
      </main>
    )
  const k = key.data
  const live = k.status === 'active' || k.status === 'disabled'

  return (
    <main id="main" tabIndex={-1}>
      <div class="title-row">
        <h1>
          {k.name} <StatusBadge status={k.status} />
        </h1>
        {props.canWrite && live && (
          <div class="buttons">
            <button type="button" onClick={() => setDialog('rotate')}>
              Rotate
            </button>
            <button type="button" class="danger" onClick={() => setDialog('revoke')}>
              Revoke
            </button>
          </div>
        )}
      </div>
      {notice !== null && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorNote error={key.error} />
      {rotated !== null && (
        <SecretOnce secret={rotated.key} title={`New secret of ${rotated.name}`}>
          <p>
            <button type="button" class="link" onClick={() => setRotated(null)}>
              I have stored it: hide the secret
            </button>
          </p>
        </SecretOnce>
      )}
      <section aria-labelledby="details-title">
        <h2 id="details-title">Details</h2>
        <dl class="details-grid">
          <Detail label="Id">
            <code>{k.id}</code>
          </Detail>
          <Detail label="Owner">{k.owner ?? '—'}</Detail>
          <Detail label="Hint">
            <code>{k.hint}</code>
          </Detail>
          <Detail label="Scopes">
            <Scopes scopes={k.scopes} roles={k.roles} />
          </Detail>
          <Detail label="Rate limits">
            {k.rateLimits.length === 0 ? 'none' : k.rateLimits.map((r) => `${r.name}: ${r.limit}/${r.window}`).join(', ')}
          </Detail>
          <Detail label="Quota">{k.quota === null ? 'none' : `${formatNumber(k.quota.limit)} per ${k.quota.period}`}</Detail>
          <Detail label="IP allowlist">{k.ipAllowlist.length === 0 ? 'any address' : k.ipAllowlist.join(', ')}</Detail>
          <Detail label="Created">{absolute(k.createdAt)}</Detail>
          <Detail label="Expires">{k.expiresAt === null ? 'never' : `${absolute(k.expiresAt)} (${relative(k.expiresAt)})`}</Detail>
          {k.revokedAt !== null && <Detail label="Revoked">{absolute(k.revokedAt)}</Detail>}
          <Detail label="Last used">{k.lastUsedAt === null ? 'never' : `${absolute(k.lastUsedAt)} (${relative(k.lastUsedAt)})`}</Detail>
          <Detail label="Verifications">{formatNumber(k.usageCount)}</Detail>
          {k.policy !== undefined && (
            <Detail label="Rotation policy">
              {k.policy.pastPolicy ? (
                <span class="badge status-expired">past policy: rotate it</span>
              ) : (
                `within policy${k.policy.maxAge ? ` (rotate every ${k.policy.maxAge})` : ''}`
              )}
            </Detail>
          )}
          <Detail label="Metadata">
            {Object.keys(k.metadata).length === 0 ? 'none' : <pre class="json">{JSON.stringify(k.metadata, null, 2)}</pre>}
          </Detail>
        </dl>
      </section>
      <section aria-labelledby="secrets-title">
        <h2 id="secrets-title">Secrets</h2>
        {k.secrets === undefined ? (
          <p>
            Current secret <code>{k.hint}</code>.
          </p>
        ) : (
          <div class="table-wrap">
            <table class="stack secrets">
              <caption class="visually-hidden">Secrets of {k.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Hint</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">Works until</th>
                  <th scope="col">Last used</th>
                </tr>
              </thead>
              <tbody>
                {k.secrets.map((s) => (
                  <tr key={`${s.hint}-${s.createdAt}`}>
                    <td data-label="Hint">
                      <code>{s.hint}</code>
                    </td>
                    <td data-label="State">
                      <span class={`badge secret-${s.state}`}>{s.state === 'grace' ? 'grace period' : s.state}</span>
                    </td>
                    <td data-label="Created">{absolute(s.createdAt)}</td>
                    <td data-label="Works until">{s.expiresAt === null ? 'no end' : `${absolute(s.expiresAt)} (${relative(s.expiresAt)})`}</td>
                    <td data-label="Last used">{s.lastUsedAt === null ? 'never' : relative(s.lastUsedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="usage-title">
        <h2 id="usage-title">Usage</h2>
        <fieldset class="segmented">
          <legend class="visually-hidden">Period</legend>
          {RANGES.map(([r, , label]) => (
            <button key={r} type="button" aria-pressed={range === r} onClick={() => setRange(r)}>
              {label}
            </button>
          ))}
        </fieldset>
        <ErrorNote error={usage.error} />
        {series !== null && usage.data !== null && (
          <UsageChart series={series} totals={usage.data.totals} label={`Verifications of ${k.name}, ${RANGES.find(([r]) => r === range)![2].toLowerCase()}`} />
        )}
        {usage.data?.lastIp != null && (
          <p class="muted">
            Last seen from {usage.data.lastIp}
            {usage.data.firstIp != null && usage.data.firstIp !== usage.data.lastIp ? ` (first from ${usage.data.firstIp})` : ''}.
          </p>
        )}
      </section>
      {props.canAudit && (
        <section aria-labelledby="events-title">
          <h2 id="events-title">Audit events</h2>
          <ErrorNote error={audit.error} />
          {audit.data !== null && <AuditTable items={audit.data.items} showKey={false} caption={`Audit events of ${k.name}`} />}
        </section>
      )}
      <Dialog open={dialog === 'rotate'} title={`Rotate ${k.name}?`} onClose={() => setDialog(null)}>
        <p>
          A new secret is issued for <strong>{k.name}</strong> (<code>{k.id}</code>) and shown once. Until the grace period ends,
          the old secret works too.
        </p>
        <div class="field">
          <label for="grace">Grace period</label>
          <select id="grace" value={grace} onChange={(e) => setGrace(e.currentTarget.value)}>
            {GRACES.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <ErrorNote error={actionError} />
        <div class="actions">
          <button type="button" disabled={busy} onClick={() => act('rotate')}>
            Rotate {k.name}
          </button>
          <button type="button" class="secondary" onClick={() => setDialog(null)}>
            Cancel
          </button>
        </div>
      </Dialog>
      <Dialog open={dialog === 'revoke'} title={`Revoke ${k.name}?`} onClose={() => setDialog(null)}>
        <p>
          Every call with <strong>{k.name}</strong> (<code>{k.id}</code>, <code>{k.hint}</code>) is refused from now on. This cannot be
          undone; the record stays for the audit trail.
        </p>
        <ErrorNote error={actionError} />
        <div class="actions">
          <button type="button" class="danger" disabled={busy} onClick={() => act('revoke')}>
            Revoke {k.name}
          </button>
          <button type="button" class="secondary" onClick={() => setDialog(null)}>
            Cancel
          </button>
        </div>
      </Dialog>
    </main>
  )
}
