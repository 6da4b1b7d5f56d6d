// The shell: sign-in gate, navigation, the server-unreachable banner, theme, and the screens.
import { useEffect, useState } from 'preact/hooks'
import { checkServer, currentSession, onConnectivity, onSignedOut, type Problem, type SessionInfo, signOut } from './api'
import { Link } from './components/link'
import { messageOf } from './load'
import { navigate, type Route, useRoute } from './router'
import { AuditScreen } from './screens/audit'
import { CreateScreen } from './screens/create'
import { KeyPage } from './screens/key-page'
import { KeysScreen } from './screens/keys'
import { OverviewScreen } from './screens/overview'
import { SignIn } from './screens/sign-in'

type Theme = 'system' | 'light' | 'dark'

function applyTheme(theme: Theme) {
  if (theme === 'system') document.documentElement.removeAttribute('data-theme')
  else document.documentElement.setAttribute('data-theme', theme)
}

function endedNotice(problem: Problem): string {
  if (problem.code === 'key_revoked') return 'The admin key of your session was revoked: sign in with another one.'
  if (problem.code === 'key_expired') return 'The admin key (or the secret you signed in with) expired: sign in again.'
  if (problem.code === 'key_disabled') return 'The admin key of your session was disabled.'
  return 'Your session ended (it expired, or you signed out elsewhere): sign in again.'
}

function has(session: SessionInfo, scope: string): boolean {
  return session.scopes.includes(scope) || session.scopes.includes('admin') || session.scopes.includes('*')
}

const TITLES: Record<Route['screen'], string> = {
  overview: 'Overview',
  keys: 'Keys',
  create: 'New key',
  key: 'Key',
  audit: 'Audit trail',
  missing: 'Not found',
}

export function App() {
  const route = useRoute()
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined)
  const [notice, setNotice] = useState<string | null>(null)
  const [offline, setOffline] = useState(false)
  const [startError, setStartError] = useState<string | null>(null)
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem('keyward-theme') as Theme | null) ?? 'system')

  useEffect(() => {
    applyTheme(theme)
    localStorage.setItem('keyward-theme', theme)
  }, [theme])

  useEffect(() => {
    currentSession().then(setSession, (e: unknown) => {
      setStartError(messageOf(e))
      setSession(null)
    })
    const stopSignedOut = onSignedOut((problem) => {
      // several requests in flight end together: the first answer says why (revoked…); the
      // later ones only find the session gone, which would hide that reason
      setNotice((current) => current ?? endedNotice(problem))
      setSession(null)
    })
    const stopConnectivity = onConnectivity(setOffline)
    return () => {
      stopSignedOut()
      stopConnectivity()
    }
  }, [])

  // while the server is away, ask every 2 s whether it is back; screens reload when it is
  useEffect(() => {
    if (!offline) return
    const timer = setInterval(() => void checkServer(), 2000)
    return () => clearInterval(timer)
  }, [offline])

  // the first session check failed because the server was down: try again once it is back
  useEffect(() => {
    if (!offline && startError !== null)
      currentSession().then((s) => {
        setStartError(null)
        setSession(s)
      }, () => {})
  }, [offline])

  useEffect(() => {
    document.title = `${TITLES[route.screen]} · keyward`
    document.getElementById('main')?.focus({ preventScroll: true })
  }, [route])

  const banner = offline && (
    <div class="offline" role="alert">
      The server cannot be reached. Retrying every few seconds…
    </div>
  )

  if (session === undefined) return <div class="loading">{banner}Loading…</div>
  if (session === null)
    return (
      <>
        {banner}
        {startError !== null && !offline && <p class="error">{startError}</p>}
        <SignIn
          notice={notice}
          onSignedIn={(s) => {
            setNotice(null)
            setSession(s)
          }}
        />
      </>
    )

  const canWrite = has(session, 'keys:write')
  const canAudit = has(session, 'audit:read')
  const nav: [string, string, Route['screen'][]][] = [
    ['', 'Overview', ['overview']],
    ['keys', 'Keys', ['keys', 'key', 'create']],
    ...(canAudit ? ([['audit', 'Audit', ['audit']]] as [string, string, Route['screen'][]][]) : []),
  ]

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link to="" class="brand">
          keyward
        </Link>
        <nav aria-label="Main">
          <ul>
            {nav.map(([to, label, screens]) => (
              <li key={to}>
                <a
                  href={`/dashboard/${to}`}
                  aria-current={screens.includes(route.screen) ? 'page' : undefined}
                  onClick={(e) => {
                    if (e.button !== 0 || e.metaKey || e.ctrlKey) return
                    e.preventDefault()
                    navigate(to)
                  }}
                >
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="session">
          <label class="visually-hidden" for="theme">
            Theme
          </label>
          <select id="theme" value={theme} onChange={(e) => setTheme(e.currentTarget.value as Theme)}>
            <option value="system">System theme</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
          <span class="who" title={session.keyId}>
            {session.name}
          </span>
          <button
            type="button"
            class="secondary"
            onClick={async () => {
              await signOut().catch(() => {})
              setNotice('You signed out.')
              setSession(null)
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      {banner}
      {route.screen === 'overview' && <OverviewScreen />}
      {route.screen === 'keys' && <KeysScreen canWrite={canWrite} />}
      {route.screen === 'create' && <CreateScreen />}
      {route.screen === 'key' && <KeyPage id={route.id} canWrite={canWrite} canAudit={canAudit} />}
      {route.screen === 'audit' && <AuditScreen />}
      {route.screen === 'missing' && (
        <main id="main" tabIndex={-1}>
          <h1>Not found</h1>
          <p>
            There is no such page. <Link to="">Go to the overview</Link>.
          </p>
        </main>
      )}
    </>
  )
}
