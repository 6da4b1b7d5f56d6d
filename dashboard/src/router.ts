// A small history router under /dashboard/. Screens are paths; nothing secret is ever put in
// one (secrets live in component state only, and are gone when the screen is left).
import { useEffect, useState } from 'preact/hooks'

export const BASE = '/dashboard/'

export type Route =
  | { screen: 'overview' }
  | { screen: 'keys' }
  | { screen: 'create' }
  | { screen: 'key'; id: string }
  | { screen: 'audit' }
  | { screen: 'missing' }

export function parse(pathname: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : ''
  const parts = path.split('/').filter((p) => p !== '')
  if (parts.length === 0) return { screen: 'overview' }
  if (parts[0] === 'keys' && parts.length === 1) return { screen: 'keys' }
  if (parts[0] === 'keys' && parts[1] === 'new' && parts.length === 2) return { screen: 'create' }
  if (parts[0] === 'keys' && parts.length === 2) return { screen: 'key', id: decodeURIComponent(parts[1]!) }
  if (parts[0] === 'audit' && parts.length === 1) return { screen: 'audit' }
  return { screen: 'missing' }
}

export function href(path: string): string {
  return BASE + path
}

const listeners = new Set<() => void>()

export function navigate(path: string): void {
  window.history.pushState(null, '', href(path))
  for (const l of listeners) l()
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.pathname))
  useEffect(() => {
    const update = () => setRoute(parse(window.location.pathname))
    listeners.add(update)
    window.addEventListener('popstate', update)
    return () => {
      listeners.delete(update)
      window.removeEventListener('popstate', update)
    }
  }, [])
  return route
}
