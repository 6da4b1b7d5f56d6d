// The one time a secret is shown: after create and rotate. It lives in this component's state
// only; leaving the screen forgets it.
import { useRef, useState } from 'preact/hooks'

export function SecretOnce(props: { secret: string; title: string; children?: preact.ComponentChildren }) {
  const input = useRef<HTMLInputElement>(null)
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no')

  async function copy() {
    try {
      await navigator.clipboard.writeText(props.secret)
      setCopied('yes')
    } catch {
      // no clipboard permission (or plain HTTP away from localhost): select it for Ctrl+C
      input.current?.select()
      setCopied('failed')
    }
  }

  return (
    <section class="secret-once" aria-labelledby="secret-title">
      <h2 id="secret-title">{props.title}</h2>
      <p class="warning">
        <strong>Copy this secret now: you will not see this again.</strong> keyward stores only a
        keyed hash of it.
      </p>
      <div class="secret-row">
        <label class="visually-hidden" for="secret-value">
          The new secret
        </label>
        <input
          id="secret-value"
          ref={input}
          class="secret"
          readOnly
          value={props.secret}
          spellcheck={false}
          autocomplete="off"
          onFocus={(e) => (e.currentTarget as HTMLInputElement).select()}
        />
        <button type="button" onClick={copy}>
          Copy
        </button>
      </div>
      <p role="status" class="muted">
        {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'failed' ? 'Selected: press Ctrl+C (⌘C) to copy.' : ''}
      </p>
      {props.children}
    </section>
  )
}
