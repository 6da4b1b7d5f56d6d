// Sign in with an admin key. The key goes to the server once, in the Authorization header,
// and is dropped here as soon as the answer arrives; the session is an HttpOnly cookie.
import { useRef, useState } from 'preact/hooks'
import { ApiError, type SessionInfo, signIn } from '../api'
import { messageOf } from '../load'

export function SignIn(props: { notice: string | null; onSignedIn: (s: SessionInfo) => void }) {
  const input = useRef<HTMLInputElement>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit(e: Event) {
    e.preventDefault()
    const field = input.current!
    const key = field.value.trim()
    if (key === '') {
      setError('Paste an admin key.')
      field.focus()
      return
    }
    setBusy(true)
    setError(null)
    try {
      const session = await signIn(key)
      field.value = ''
      props.onSignedIn(session)
    } catch (err) {
      field.value = ''
      if (err instanceof ApiError && err.problem.code === 'insufficient_scope')
        setError('This key cannot read keys (it needs keys:read or admin): sign in with an admin key.')
      else if (err instanceof ApiError && err.problem.code === 'key_revoked')
        setError('This key was revoked: sign in with another admin key.')
      else if (err instanceof ApiError && err.problem.status === 401)
        setError('That key is not valid: check that you pasted the whole admin key.')
      else setError(messageOf(err))
      field.focus()
    } finally {
      setBusy(false)
    }
  }

  return (
    <main id="main" class="sign-in">
      <h1>keyward</h1>
      <p class="muted">Sign in with an admin key. It is exchanged for a session and never stored in the browser.</p>
      {props.notice !== null && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <form onSubmit={submit} novalidate>
        <label for="admin-key">Admin key</label>
        <input
          id="admin-key"
          ref={input}
          type="password"
          autocomplete="off"
          spellcheck={false}
          aria-invalid={error !== null}
          aria-describedby={error !== null ? 'sign-in-error' : undefined}
        />
        {error !== null && (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  )
}
