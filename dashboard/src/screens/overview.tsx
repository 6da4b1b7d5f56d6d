// The overview: verifications per minute by outcome over the last 24 hours, the busiest and the
// most refused keys, and keys that expire soon or are past the rotation policy.
import { useMemo } from 'preact/hooks'
import { type ApiKey, call, type KeyPage, type Overview, query } from '../api'
import { fillSeries, UsageChart } from '../components/chart'
import { Link } from '../components/link'
import { absolute, formatNumber, relative } from '../format'
import { ErrorNote, useLoad } from '../load'

function KeyList(props: { keys: ApiKey[]; empty: string; label: (k: ApiKey) => string }) {
  if (props.keys.length === 0) return <p class="muted">{props.empty}</p>
  return (
    <ul class="key-list">
      {props.keys.map((k) => (
        <li key={k.id}>
          <Link to={`keys/${k.id}`}>{k.name}</Link> <span class="muted">{props.label(k)}</span>
        </li>
      ))}
    </ul>
  )
}

function TopKeys(props: {
  id: string
  title: string
  empty: string
  rows: { keyId: string; name: string; count: string }[] | undefined
}) {
  return (
    <section aria-labelledby={`${props.id}-title`}>
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      {props.rows !== undefined &&
        (props.rows.length === 0 ? (
          <p class="muted">{props.empty}</p>
        ) : (
          <ol class="key-list">
            {props.rows.map((t) => (
              <li key={t.keyId}>
                <Link to={`keys/${t.keyId}`}>{t.name}</Link> <span class="muted">{t.count}</span>
              </li>
            ))}
          </ol>
        ))}
    </section>
  )
}

export function OverviewScreen() {
  const usage = useLoad(() => call<Overview>('GET', `/v1/usage${query({ since: '24h', step: '1m', top: 10 })}`), [])
  const expiring = useLoad(
    () =>
      call<KeyPage>(
        'GET',
        `/v1/keys${query({ status: 'active', expiringBefore: new Date(Date.now() + 14 * 86_400_000).toISOString(), limit: 20 })}`,
      ),
    [],
  )
  // the newest active keys, for the rotation policy: the server marks each one
  const active = useLoad(() => call<KeyPage>('GET', `/v1/keys${query({ status: 'active', limit: 100 })}`), [])
  const series = useMemo(
    () => (usage.data === null ? null : fillSeries(usage.data.series, usage.data.since, usage.data.until, usage.data.step)),
    [usage.data],
  )
  const pastPolicy = (active.data?.items ?? []).filter((k) => k.policy?.pastPolicy === true)
  const policyKnown = (active.data?.items ?? []).some((k) => k.policy !== undefined)

  return (
    <main id="main" tabIndex={-1}>
      <h1>Overview</h1>
      <section aria-labelledby="traffic-title">
        <h2 id="traffic-title">Verifications per minute, last 24 hours</h2>
        <ErrorNote error={usage.error} />
        {series !== null && usage.data !== null && (
          <UsageChart series={series} totals={usage.data.totals} label="Verifications per minute over the last 24 hours" />
        )}
      </section>
      <div class="columns">
        <TopKeys
          id="top-traffic"
          title="Most traffic"
          empty="No traffic in the last 24 hours."
          rows={usage.data?.topByTraffic.map((t) => ({ ...t, count: `${formatNumber(t.total)} calls` }))}
        />
        <TopKeys
          id="top-denied"
          title="Most refused"
          empty="No refusals in the last 24 hours."
          rows={usage.data?.topByDenials.map((t) => ({ ...t, count: `${formatNumber(t.denied)} refused` }))}
        />
        <section aria-labelledby="expiring-title">
          <h2 id="expiring-title">Expiring within 14 days</h2>
          <ErrorNote error={expiring.error} />
          {expiring.data !== null && (
            <KeyList
              keys={expiring.data.items}
              empty="No active key expires in the next 14 days."
              label={(k) => `${relative(k.expiresAt)} · ${absolute(k.expiresAt)}`}
            />
          )}
        </section>
        <section aria-labelledby="policy-title">
          <h2 id="policy-title">Past the rotation policy</h2>
          <ErrorNote error={active.error} />
          {active.data !== null &&
            (policyKnown ? (
              <KeyList keys={pastPolicy} empty="Every active key is within the policy." label={(k) => `created ${relative(k.createdAt)}`} />
            ) : (
              <p class="muted">This server sets no rotation policy.</p>
            ))}
        </section>
      </div>
    </main>
  )
}
