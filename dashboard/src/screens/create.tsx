// Create a key: the fields are checked as they are typed (after the first edit of each, or all
// at once on submit), the server's problem+json lands on the field it names, and the secret is
// shown once.
import { useRef, useState } from 'preact/hooks'
import { ApiError, call, type KeyWithSecret } from '../api'
import { Link } from '../components/link'
import { SecretOnce } from '../components/secret-once'
import {
  EMPTY_FORM,
  type Errors,
  type Field,
  fieldOf,
  type KeyForm,
  toBody,
  validate,
} from '../key-form'
import { messageOf } from '../load'

interface FieldSpec {
  field: Field
  label: string
  hint: string
  multiline?: boolean
  placeholder?: string
}

const FIELDS: FieldSpec[] = [
  {
    field: 'name',
    label: 'Name',
    hint: 'Required. Who or what uses the key, e.g. "billing service".',
  },
  {
    field: 'owner',
    label: 'Owner',
    hint: 'Optional: a team or service id, for filtering.',
    placeholder: 'svc:billing',
  },
  {
    field: 'scopes',
    label: 'Scopes',
    hint: 'resource:action, separated by commas or spaces.',
    placeholder: 'orders:read, orders:write',
  },
  {
    field: 'roles',
    label: 'Roles',
    hint: 'Names of roles defined with PUT /v1/roles/NAME.',
    placeholder: 'reader',
  },
  {
    field: 'expiresIn',
    label: 'Expires in',
    hint: 'Empty: never. E.g. 90d, 24h, 1y.',
    placeholder: '90d',
  },
  {
    field: 'rateLimits',
    label: 'Rate limits',
    hint: 'LIMIT/WINDOW, named when several: burst=20/1s, hour=1000/1h.',
    placeholder: '100/1m',
  },
  {
    field: 'quota',
    label: 'Quota',
    hint: 'Credits per period, e.g. 10000/30d.',
    placeholder: '10000/30d',
  },
  {
    field: 'metadata',
    label: 'Metadata',
    hint: 'A JSON object, at most 4 KiB.',
    multiline: true,
    placeholder: '{"team": "billing"}',
  },
  {
    field: 'ipAllowlist',
    label: 'IP allowlist',
    hint: 'Addresses or CIDR ranges; empty allows any.',
    placeholder: '10.0.0.0/8',
  },
  {
    field: 'prefix',
    label: 'Prefix',
    hint: 'Empty: kw_live. E.g. kw_test.',
    placeholder: 'kw_live',
  },
]

export function CreateScreen() {
  const [form, setForm] = useState<KeyForm>(EMPTY_FORM)
  const [touched, setTouched] = useState<Set<Field>>(new Set())
  const [serverErrors, setServerErrors] = useState<Errors>({})
  const [formError, setFormError] = useState<string | null>(null)
  const [created, setCreated] = useState<KeyWithSecret | null>(null)
  const [busy, setBusy] = useState(false)
  const formRef = useRef<HTMLFormElement>(null)

  const errors = validate(form)
  const shown = (field: Field) =>
    serverErrors[field] ?? (touched.has(field) ? errors[field] : undefined)

  // Updates from the state as it is now, not as this render saw it: inputs in quick succession
  // (fast typing, autofill) must not undo each other.
  function update(field: Field, value: string) {
    setForm((f) => ({ ...f, [field]: value }))
    setTouched((t) => (t.has(field) ? t : new Set(t).add(field)))
    setServerErrors((e) => (e[field] === undefined ? e : { ...e, [field]: undefined }))
  }

  function focusFirstError(fields: Field[]) {
    const first = FIELDS.find((f) => fields.includes(f.field))
    if (first !== undefined)
      formRef.current?.querySelector<HTMLElement>(`#k-${first.field}`)?.focus()
  }

  async function submit(e: Event) {
    e.preventDefault()
    setTouched(new Set(FIELDS.map((f) => f.field)))
    setFormError(null)
    const wrong = Object.keys(errors) as Field[]
    if (wrong.length > 0) {
      setFormError(
        `${wrong.length === 1 ? 'One field needs' : `${wrong.length} fields need`} fixing.`,
      )
      focusFirstError(wrong)
      return
    }
    setBusy(true)
    try {
      setCreated(await call<KeyWithSecret>('POST', '/v1/keys', { body: toBody(form) }))
    } catch (err) {
      if (err instanceof ApiError && err.problem.status === 400) {
        const field = fieldOf(err.problem.detail)
        if (field !== null) {
          setServerErrors({ [field]: err.problem.detail })
          setFormError('The server refused the key: see the field marked below.')
          focusFirstError([field])
          return
        }
      }
      setFormError(messageOf(err))
    } finally {
      setBusy(false)
    }
  }

  if (created !== null)
    return (
      <main id="main" tabIndex={-1}>
        <h1>Key created</h1>
        <SecretOnce secret={created.key} title={`Secret of ${created.name}`}>
          <p>
            <Link to={`keys/${created.id}`}>Open the key {created.name}</Link>
            {' · '}
            <button
              type="button"
              class="link"
              onClick={() => {
                setCreated(null)
                setForm(EMPTY_FORM)
                setTouched(new Set())
              }}
            >
              Create another key
            </button>
          </p>
        </SecretOnce>
      </main>
    )

  return (
    <main id="main" tabIndex={-1}>
      <h1>New key</h1>
      <form
        ref={formRef}
        class="key-form"
        onSubmit={submit}
        novalidate
        aria-describedby={formError ? 'form-error' : undefined}
      >
        {formError !== null && (
          <p id="form-error" class="error" role="alert">
            {formError}
          </p>
        )}
        {FIELDS.map(({ field, label, hint, multiline, placeholder }) => {
          const error = shown(field)
          const describedBy = `k-${field}-hint${error !== undefined ? ` k-${field}-error` : ''}`
          const common = {
            id: `k-${field}`,
            name: field,
            value: form[field],
            placeholder,
            'aria-invalid': error !== undefined,
            'aria-describedby': describedBy,
            'aria-required': field === 'name' ? true : undefined,
            spellcheck: false,
            autocomplete: 'off',
          }
          return (
            <div class={`field${error !== undefined ? ' invalid' : ''}`} key={field}>
              <label for={`k-${field}`}>
                {label}
                {field === 'name' && <span aria-hidden="true"> *</span>}
              </label>
              {multiline ? (
                <textarea
                  {...common}
                  rows={3}
                  onInput={(e) => update(field, e.currentTarget.value)}
                />
              ) : (
                <input {...common} onInput={(e) => update(field, e.currentTarget.value)} />
              )}
              <p id={`k-${field}-hint`} class="hint">
                {hint}
              </p>
              {error !== undefined && (
                <p id={`k-${field}-error`} class="field-error" data-field={field}>
                  {error}
                </p>
              )}
            </div>
          )
        })}
        <div class="actions">
          <button type="submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create key'}
          </button>
          <Link to="keys">Cancel</Link>
        </div>
      </form>
    </main>
  )
}
