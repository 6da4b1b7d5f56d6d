// All keys, a page at a time with the API's cursors: filters go to the server; search and
// sorting apply to the page shown (the API lists newest first and has no name search).
import { useMemo, useState } from 'preact/hooks'
import { type ApiKey, call, type KeyPage, query } from '../api'
import { Link } from '../components/link'
import { Scopes, StatusBadge } from '../components/key-bits'
import { absolute, relative } from '../format'
import { ErrorNote, useLoad } from '../load'
import { navigate } from '../router'

type SortKey = 'name' | 'owner' | 'status' | 'expiresAt' | 'lastUsedAt' | 'createdAt'

const EXPIRING: [string, string, number][] = [
  ['', 'any time', 0],
  ['1d', 'within a day', 86_400_000],
  ['7d', 'within 7 days', 7 * 86_400_000],
  ['30d', 'within 30 days', 30 * 86_400_000],
  ['90d', 'within 90 days', 90 * 86_400_000],
]

const COLUMNS: [SortKey | null, string][] = [
  ['name', 'Name'],
  ['owner', 'Owner'],
  [null, 'Hint'],
  [null, 'Scopes'],
  ['status', 'State'],
  ['expiresAt', 'Expires'],
  ['lastUsedAt', 'Last used'],
]

function compare(a: ApiKey, b: ApiKey, key: SortKey): number {
  const x = a[key] ?? ''
  const y = b[key] ?? ''
  return String(x).localeCompare(String(y))
}

export function KeysScreen(props: { canWrite: boolean }) {
  const [owner, setOwner] = useState('')
  const [status, setStatus] = useState('')
  const [scope, setScope] = useState('')
  const [expiring, setExpiring] = useState('')
  const [limit, setLimit] = useState('50')
  const [search, setSearch] = useState('')
  const [sort, setSort] = useState<{ key: SortKey; up: boolean } | null>(null)
  // cursors of the pages before this one; the first page has none
  const [cursors, setCursors] = useState<string[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const filters = { owner, status, scope, expiring, limit }

  const page = useLoad(() => {
    const within = EXPIRING.find(([v]) => v === expiring)?.[2] ?? 0
    return call<KeyPage>(
      'GET',
      `/v1/keys${query({
        owner: owner.trim(),
        status,
        scope: scope.trim(),
        expiringBefore: within > 0 ? new Date(Date.now() + within).toISOString() : undefined,
        limit,
        cursor,
      })}`,
    )
  }, [JSON.stringify(filters), cursor])

  function refilter(apply: () => void) {
    apply()
    setCursors([])
    setCursor(null)
  }

  const rows = useMemo(() => {
    let list = page.data?.items ?? []
    const needle = search.trim().toLowerCase()
    if (needle !== '')
      list = list.filter(
        (k) =>
          k.name.toLowerCase().includes(needle) ||
          k.id.toLowerCase().includes(needle) ||
          (k.owner ?? '').toLowerCase().includes(needle) ||
          k.hint.toLowerCase().includes(needle),
      )
    if (sort !== null) list = [...list].sort((a, b) => compare(a, b, sort.key) * (sort.up ? 1 : -1))
    return list
  }, [page.data, search, sort])

  function onSearch(e: Event) {
    e.preventDefault()
    const id = search.trim()
    if (/^key_[0-9A-Za-z]{16}$/.test(id)) navigate(`keys/${id}`)
  }

  return (
    <main id="main" tabIndex={-1}>
      <div class="title-row">
        <h1>Keys</h1>
        {props.canWrite && (
          <Link to="keys/new" class="button">
            New key
          </Link>
        )}
      </div>
      <form class="filters" onSubmit={onSearch} aria-label="Filter keys">
        <div class="field">
          <label for="f-search">Search this page</label>
          <input
            id="f-search"
            type="search"
            value={search}
            placeholder="name, owner, hint, or a key id + Enter"
            onInput={(e) => setSearch(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="f-owner">Owner</label>
          <input id="f-owner" defaultValue="" onChange={(e) => refilter(() => setOwner(e.currentTarget.value))} />
        </div>
        <div class="field">
          <label for="f-status">State</label>
          <select id="f-status" value={status} onChange={(e) => refilter(() => setStatus(e.currentTarget.value))}>
            <option value="">any</option>
            <option value="active">active</option>
            <option value="expired">expired</option>
            <option value="revoked">revoked</option>
            <option value="disabled">disabled</option>
          </select>
        </div>
        <div class="field">
          <label for="f-scope">Scope</label>
          <input
            id="f-scope"
            defaultValue=""
            placeholder="orders:read"
            onChange={(e) => refilter(() => setScope(e.currentTarget.value))}
          />
        </div>
        <div class="field">
          <label for="f-expiring">Expiring</label>
          <select id="f-expiring" value={expiring} onChange={(e) => refilter(() => setExpiring(e.currentTarget.value))}>
            {EXPIRING.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-limit">Per page</label>
          <select id="f-limit" value={limit} onChange={(e) => refilter(() => setLimit(e.currentTarget.value))}>
            {['25', '50', '100'].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
      </form>
      <ErrorNote error={page.error} />
      <div class="table-wrap">
        <table class="keys stack">
          <caption class="visually-hidden">Keys, page {cursors.length + 1}</caption>
          <thead>
            <tr>
              {COLUMNS.map(([key, label]) => (
                <th
                  key={label}
                  scope="col"
                  aria-sort={sort !== null && key === sort.key ? (sort.up ? 'ascending' : 'descending') : undefined}
                >
                  {key === null ? (
                    label
                  ) : (
                    <button
                      type="button"
                      class="sort"
                      onClick={() =>
                        setSort(sort?.key === key ? { key, up: !sort.up } : { key, up: true })
                      }
                    >
                      {label}
                      <span aria-hidden="true">
                        {sort?.key === key ? (sort.up ? ' ▲' : ' ▼') : ''}
                      </span>
                    </button>
                  )}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((k) => (
              <tr key={k.id}>
                <td data-label="Name">
                  <div>
                    <Link to={`keys/${k.id}`}>{k.name}</Link>
                    <div class="muted small">{k.id}</div>
                  </div>
                </td>
                <td data-label="Owner">{k.owner ?? <span class="muted">—</span>}</td>
                <td data-label="Hint">
                  <code>{k.hint}</code>
                </td>
                <td data-label="Scopes">
                  <Scopes scopes={k.scopes} roles={k.roles} />
                </td>
                <td data-label="State">
                  <StatusBadge status={k.status} />
                </td>
                <td data-label="Expires" title={absolute(k.expiresAt)}>
                  {k.expiresAt === null ? 'never' : relative(k.expiresAt)}
                </td>
                <td data-label="Last used" title={absolute(k.lastUsedAt)}>
                  {k.lastUsedAt === null ? 'never' : relative(k.lastUsedAt)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!page.loading && rows.length === 0 && page.error === null && (
        <p class="muted">No keys match.</p>
      )}
      <nav class="pager" aria-label="Pages">
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => {
            const before = [...cursors]
            const previous = before.pop() ?? null
            setCursors(before)
            setCursor(previous === '' ? null : previous)
          }}
        >
          Previous page
        </button>
        <span aria-live="polite">
          Page {cursors.length + 1}
          {page.loading ? ' (loading…)' : ''}
        </span>
        <button
          type="button"
          disabled={page.data?.nextCursor == null}
          onClick={() => {
            setCursors([...cursors, cursor ?? ''])
            setCursor(page.data!.nextCursor)
          }}
        >
          Next page
        </button>
      </nav>
    </main>
  )
}
