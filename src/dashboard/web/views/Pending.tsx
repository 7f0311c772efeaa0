/**
 * The questions waiting for an answer: human input requests as forms generated from their
 * `response_schema`, choice requests as buttons, permission requests as grant / deny.
 */
import { useState } from "preact/hooks"
import type { Message } from "../../../protocol/Message.js"
import type { Dashboard } from "../Dashboard.js"
import type { PendingView } from "../Model.js"
import { answerOf, type Field, formOf } from "../SchemaForm.js"
import { shortId } from "./format.js"

export function PendingList({ dashboard }: { readonly dashboard: Dashboard }) {
  const pending = [...dashboard.model.pending.values()]
  if (pending.length === 0) return null
  return (
    <section class="pending" data-testid="pending">
      <h2>Waiting for you ({pending.length})</h2>
      {pending.map((p) => <PendingCard key={p.message.id} dashboard={dashboard} pending={p} />)}
    </section>
  )
}

function PendingCard({ dashboard, pending }: { readonly dashboard: Dashboard; readonly pending: PendingView }) {
  const job = pending.message.job_id
  return (
    <article class="card" data-testid={`pending-${pending.kind}`}>
      <header>
        <span class="tag">{pending.kind === "permission" ? "permission" : "human input"}</span>
        {job !== undefined && <span class="muted">job {shortId(job)}</span>}
      </header>
      {pending.kind === "input" && <InputForm dashboard={dashboard} request={pending.message} />}
      {pending.kind === "choice" && <ChoiceButtons dashboard={dashboard} request={pending.message} />}
      {pending.kind === "permission" && <PermissionButtons dashboard={dashboard} request={pending.message} />}
    </article>
  )
}

function FieldInput(
  { field, onInput, value }: { readonly field: Field; readonly value: string; readonly onInput: (v: string) => void }
) {
  const id = `field-${field.name === "" ? "answer" : field.name}`
  const common = { id, name: field.name === "" ? "answer" : field.name, required: field.required }
  const input = field.kind === "boolean"
    ? (
      <input
        {...common}
        type="checkbox"
        checked={value === "true"}
        onChange={(e) => onInput(e.currentTarget.checked ? "true" : "false")}
      />
    )
    : field.kind === "choice"
    ? (
      <select {...common} value={value} onChange={(e) => onInput(e.currentTarget.value)}>
        <option value="" disabled>choose…</option>
        {field.options.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    )
    : field.multiline
    ? (
      <textarea
        {...common}
        rows={field.kind === "json" ? 4 : 2}
        value={value}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
    )
    : field.kind === "text"
    ? <input {...common} type="text" value={value} onInput={(e) => onInput(e.currentTarget.value)} />
    : (
      <input
        {...common}
        type="number"
        step={field.kind === "integer" ? "1" : "any"}
        value={value}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
    )
  return (
    <label class="field" for={id}>
      <span>{field.label}{field.required ? " *" : ""}</span>
      {input}
      {field.description !== undefined && <small class="muted">{field.description}</small>}
    </label>
  )
}

function InputForm(
  { dashboard, request }: { readonly dashboard: Dashboard; readonly request: Message<"human.input.request"> }
) {
  const spec = formOf(request.payload.response_schema, request.payload.default)
  const [values, setValues] = useState<Record<string, string>>({})
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  return (
    <form
      class="human-form"
      data-testid="human-form"
      // the runtime checks the answer against the schema and says what is wrong: no second set of rules here
      noValidate
      onSubmit={async (e) => {
        e.preventDefault()
        const answer = answerOf(spec, values)
        if (!answer.ok) return setError(answer.error)
        setBusy(true)
        setError(await dashboard.respond(request, answer.value))
        setBusy(false)
      }}
    >
      <p class="prompt">{request.payload.prompt}</p>
      {spec.fields.map((f) => (
        <FieldInput
          key={f.name}
          field={f}
          value={values[f.name] ?? f.initial}
          onInput={(v) => setValues({ ...values, [f.name]: v })}
        />
      ))}
      <p class="muted">expires {request.payload.expires_at}</p>
      {error !== undefined && <p class="error" role="alert">{error}</p>}
      <button type="submit" disabled={busy}>Send answer</button>
    </form>
  )
}

function ChoiceButtons(
  { dashboard, request }: { readonly dashboard: Dashboard; readonly request: Message<"human.choice.request"> }
) {
  const [error, setError] = useState<string | undefined>(undefined)
  return (
    <div class="choice">
      <p class="prompt">{request.payload.prompt}</p>
      <div class="buttons">
        {request.payload.options.map((o) => (
          <button
            key={o.id}
            type="button"
            title={o.description}
            class={o.id === request.payload.default ? "primary" : ""}
            onClick={async () => setError(await dashboard.choose(request, o.id))}
          >
            {o.label === "" ? o.id : o.label}
          </button>
        ))}
      </div>
      {error !== undefined && <p class="error" role="alert">{error}</p>}
    </div>
  )
}

function PermissionButtons(
  { dashboard, request }: { readonly dashboard: Dashboard; readonly request: Message<"permission.request"> }
) {
  const [error, setError] = useState<string | undefined>(undefined)
  const { operation, permission, reason, resource } = request.payload
  return (
    <div class="permission">
      <p class="prompt">
        <b>{permission}</b> on <code>{resource}</code> ({operation}){reason !== undefined ? `: ${reason}` : ""}
      </p>
      <div class="buttons">
        <button type="button" class="primary" onClick={async () => setError(await dashboard.grant(request))}>
          Grant
        </button>
        <button
          type="button"
          class="danger"
          onClick={async () => setError(await dashboard.deny(request, "denied from the dashboard"))}
        >
          Deny
        </button>
      </div>
      {error !== undefined && <p class="error" role="alert">{error}</p>}
    </div>
  )
}
