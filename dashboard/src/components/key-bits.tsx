import type { KeyStatus } from '../api'

export function StatusBadge(props: { status: KeyStatus }) {
  return <span class={`badge status-${props.status}`}>{props.status}</span>
}

export function Scopes(props: { scopes: string[]; roles?: string[] }) {
  const all = [...props.scopes, ...(props.roles ?? []).map((r) => `role:${r}`)]
  if (all.length === 0) return <span class="muted">none</span>
  return (
    <ul class="chips">
      {all.map((s) => (
        <li key={s}>
          <code>{s}</code>
        </li>
      ))}
    </ul>
  )
}
