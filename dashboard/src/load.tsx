// Loading data for a screen: the answer, the error to show, and a reload that screens call
// after a change and the app calls when the server comes back.
import { useCallback, useEffect, useState } from 'preact/hooks'
import { ApiError, OfflineError, onConnectivity } from './api'

export interface Loaded<T> {
  data: T | null
  error: string | null
  loading: boolean
  reload: () => void
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.problem.detail
  if (error instanceof OfflineError) return 'The server cannot be reached; retrying…'
  return 'Something went wrong; reload the page.'
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [round, setRound] = useState(0)
  const reload = useCallback(() => setRound((r) => r + 1), [])

  useEffect(() => {
    let current = true
    setLoading(true)
    load().then(
      (value) => {
        if (!current) return
        setData(value)
        setError(null)
        setLoading(false)
      },
      (e: unknown) => {
        if (!current) return
        setError(messageOf(e))
        setLoading(false)
      },
    )
    return () => {
      current = false
    }
  }, [...deps, round])

  // the server came back: show fresh data
  useEffect(() => onConnectivity((offline) => !offline && reload()), [reload])
  return { data, error, loading, reload }
}

export function ErrorNote(props: { error: string | null }) {
  if (props.error === null) return null
  return (
    <p class="error" role="alert">
      {props.error}
    </p>
  )
}
