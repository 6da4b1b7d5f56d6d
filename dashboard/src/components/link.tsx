import type { ComponentChildren } from 'preact'
import { href, navigate } from '../router'

/** A real link (it opens in a new tab, copies, reads out) that navigates in place. */
export function Link(props: { to: string; children: ComponentChildren; class?: string; label?: string }) {
  return (
    <a
      href={href(props.to)}
      class={props.class}
      aria-label={props.label}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
        e.preventDefault()
        navigate(props.to)
      }}
    >
      {props.children}
    </a>
  )
}
