import type { AuditItem } from '../api'
import { absolute, relative } from '../format'
import { Link } from './link'

/**
 * details as "code: key_revoked · name: x", never as markup; times the API writes as epoch ms
 * (fields named …At) as UTC times.
 */
export function describeDetails(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(([k, v]) => {
      if (k.endsWith('At') && typeof v === 'number')
        return `${k}: ${absolute(new Date(v).toISOString())}`
      return `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`
    })
    .join(' · ')
}

export function AuditTable(props: { items: AuditItem[]; showKey: boolean; caption: string }) {
  if (props.items.length === 0) return <p class="muted">No events.</p>
  return (
    <div class="table-wrap">
      <table class="audit stack">
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            {props.showKey && <th scope="col">Key</th>}
            <th scope="col">Actor</th>
            <th scope="col">IP</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {props.items.map((e) => (
            <tr key={e.id} data-type={e.type}>
              <td data-label="When" title={absolute(e.at)}>
                {relative(e.at)}
              </td>
              <td data-label="Event">
                <code>{e.type}</code>
                {e.count !== undefined && e.count > 1 && <span class="muted"> × {e.count}</span>}
              </td>
              {props.showKey && (
                <td data-label="Key">
                  {e.keyId === null ? '—' : <Link to={`keys/${e.keyId}`}>{e.keyId}</Link>}
                </td>
              )}
              <td data-label="Actor">{e.actor ?? '—'}</td>
              <td data-label="IP">{e.ip ?? '—'}</td>
              <td data-label="Details" class="details">
                {describeDetails(e.details)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
