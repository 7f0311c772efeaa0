/**
 * The signed-in dashboard: its session (`Wire`), what it knows (`Model`) and the operator's actions, each
 * one protocol message like any client's (cancel, interrupt, human input and choice responses, permission
 * grant and deny, tool invocation, artifact fetch). Views read the model and re-render on `changes`,
 * at most once a frame however fast events arrive.
 */
import { Either, Schema } from "effect"
import {
  LISTED_TYPE,
  ListedPayload,
  type ToolDescription,
  TOOLS_EXTENSION
} from "../../protocol/extensions/ToolDiscovery.js"
import { ArtifactId, MessageId } from "../../protocol/Ids.js"
import { isCore, type Message, type PayloadOf } from "../../protocol/Message.js"
import type { SubscriptionFilter } from "../../protocol/messages/Subscriptions.js"
import * as Fold from "./Fold.js"
import * as Model from "./Model.js"
import { nowMillis } from "./Timers.js"
import { type Accepted, type Credentials, type Status, Wire, WireError } from "./Wire.js"

export interface Notice {
  readonly kind: "info" | "error"
  readonly text: string
}

const isoNow = () => new Date(nowMillis()).toISOString()

export class Dashboard {
  readonly model = Model.empty()
  status: Status = { kind: "connecting", attempt: 0 }
  tools: ReadonlyArray<ToolDescription> = []
  notice: Notice | undefined
  subscription: string | undefined
  private readonly wire: Wire
  private readonly listeners = new Set<() => void>()
  private frame: number | undefined

  constructor(url: string, credentials: Credentials, readonly principalHint: string | undefined) {
    this.wire = new Wire(url, credentials, {
      onStatus: (status) => {
        this.status = status
        if (status.kind !== "open") this.subscription = undefined
        this.changed()
      },
      onMessage: (message) => {
        Fold.apply(this.model, message)
        if (isCore(message) && message.type === "subscribe.closed") {
          this.subscription = undefined
          this.say("error", `the runtime closed the subscription: ${message.payload.reason}`)
        }
        if (message.type === LISTED_TYPE) this.tools = toolsOf(message.payload)
        this.changed()
      },
      onReady: (accepted) => this.ready(accepted)
    })
  }

  start(): void {
    this.wire.start()
  }

  stop(): void {
    this.wire.stop()
  }

  /** Calls `listener` after changes (coalesced to one call per animation frame). */
  changes(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  get url(): string {
    return this.wire.url
  }

  private changed(): void {
    if (this.frame !== undefined) return
    this.frame = requestAnimationFrame(() => {
      this.frame = undefined
      for (const listener of this.listeners) listener()
    })
  }

  private say(kind: Notice["kind"], text: string): void {
    this.notice = { kind, text }
    this.changed()
  }

  private ready(accepted: Accepted): void {
    Fold.ownSession(this.model, accepted, this.principalHint, isoNow())
    if ((accepted.capabilities.extensions ?? []).includes(TOOLS_EXTENSION)) {
      try {
        this.wire.sendExtension(`${TOOLS_EXTENSION}.list`, {})
      } catch {
        // the tool list is a convenience: the page works without it
      }
    }
    if (accepted.capabilities.subscriptions === true) void this.subscribe({})
    this.changed()
  }

  /**
   * Subscribes to every event this principal may observe (§13): the runtime narrows it to what the
   * principal is authorized for. After a reconnect it resumes after the last event seen, so nothing
   * is missed and nothing counted twice.
   */
  async subscribe(filter: SubscriptionFilter): Promise<void> {
    const after = this.model.lastEventId
    try {
      // the first time from the start of what the log holds (backfill, then live); after a reconnect, from
      // the last event seen; when the runtime no longer has that one (a fresh log), from the start again
      const reply = await this.wire.request("subscribe", {
        filter,
        since: after !== undefined ? { after_message_id: MessageId.make(after) } : {}
      }).catch((e: unknown) => {
        if (after === undefined || !(e instanceof WireError) || e.code !== "NOT_FOUND") throw e
        this.model.lastEventId = undefined
        return this.wire.request("subscribe", { filter, since: {} })
      })
      if (isCore(reply) && reply.type === "subscribe.accepted") this.subscription = reply.payload.subscription_id
      this.changed()
    } catch (e) {
      this.say("error", `cannot subscribe to the runtime's events: ${messageOf(e)}`)
    }
  }

  /** Runs a tool as this session (a `tool.invoke`); the job appears in the list with its events. */
  async invoke(tool: string, args: PayloadOf<"tool.invoke">["arguments"]): Promise<string | undefined> {
    try {
      const reply = await this.wire.request("tool.invoke", { tool, ...(args !== undefined ? { arguments: args } : {}) })
      if (isCore(reply) && reply.type === "job.accepted") {
        Fold.invoked(this.model, reply.payload.job_id, tool)
        this.changed()
        return reply.payload.job_id
      }
      if (isCore(reply) && reply.type === "tool.error") {
        this.say("error", `${tool}: ${reply.payload.code}: ${reply.payload.message}`)
      }
    } catch (e) {
      this.say("error", `${tool}: ${messageOf(e)}`)
    }
    return undefined
  }

  async cancel(jobId: string): Promise<void> {
    await this.act(`cancel ${jobId}`, async () => {
      const reply = await this.wire.request("cancel", {
        target: "job",
        target_id: jobId,
        reason: "cancelled from the dashboard"
      })
      if (isCore(reply) && reply.type === "cancel.refused") {
        throw new WireError("FAILED_PRECONDITION", reply.payload.reason)
      }
    })
  }

  async interrupt(jobId: string, prompt: string): Promise<void> {
    await this.act(
      `interrupt ${jobId}`,
      () => this.wire.request("interrupt", { target: "job", target_id: jobId, ...(prompt !== "" ? { prompt } : {}) })
    )
  }

  /** Answers a human input request; resolves to the runtime's refusal, if any, for the form to show. */
  async respond(request: Message<"human.input.request">, value: unknown): Promise<string | undefined> {
    return this.answer(
      request.id,
      () =>
        this.wire.request("human.input.response", { value, responded_by: this.by(), responded_at: isoNow() }, {
          correlation_id: request.id
        })
    )
  }

  async choose(request: Message<"human.choice.request">, choiceId: string): Promise<string | undefined> {
    return this.answer(request.id, () =>
      this.wire.request("human.choice.response", {
        choice_id: choiceId,
        responded_by: this.by(),
        responded_at: isoNow()
      }, { correlation_id: request.id }))
  }

  async grant(request: Message<"permission.request">): Promise<string | undefined> {
    const { operation, permission, resource } = request.payload
    return this.answer(
      request.id,
      () =>
        this.wire.request("permission.grant", { permission, resource, operation, granted_by: this.by() }, {
          correlation_id: request.id
        })
    )
  }

  async deny(request: Message<"permission.request">, reason: string): Promise<string | undefined> {
    const { operation, permission, resource } = request.payload
    return this.answer(
      request.id,
      () =>
        this.wire.request("permission.deny", { permission, resource, operation, reason }, {
          correlation_id: request.id
        })
    )
  }

  /** Fetches an artifact's bytes (base64 over the session) for a download. */
  async fetchArtifact(artifactId: string): Promise<Blob | undefined> {
    try {
      const reply = await this.wire.request("artifact.fetch", {
        artifact_id: ArtifactId.make(artifactId),
        encoding: "base64"
      })
      if (isCore(reply) && reply.type === "artifact.put" && reply.payload.data !== undefined) {
        const binary = atob(reply.payload.data)
        const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
        return new Blob([bytes], { type: reply.payload.media_type })
      }
      this.say("error", `artifact ${artifactId}: the runtime sent no bytes`)
    } catch (e) {
      this.say("error", `artifact ${artifactId}: ${messageOf(e)}`)
    }
    return undefined
  }

  dismissNotice(): void {
    this.notice = undefined
    this.changed()
  }

  private by(): string {
    return `dashboard${this.principalHint !== undefined ? `:${this.principalHint}` : ""}`
  }

  private async act(what: string, action: () => Promise<unknown>): Promise<void> {
    try {
      await action()
      this.say("info", `${what}: done`)
    } catch (e) {
      this.say("error", `${what}: ${messageOf(e)}`)
    }
  }

  private async answer(requestId: MessageId, action: () => Promise<unknown>): Promise<string | undefined> {
    try {
      await action()
      Fold.answered(this.model, requestId)
      this.changed()
      return undefined
    } catch (e) {
      return messageOf(e)
    }
  }
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const decodeListed = Schema.decodeUnknownEither(ListedPayload)

const toolsOf = (payload: unknown): ReadonlyArray<ToolDescription> =>
  Either.getOrElse(Either.map(decodeListed(payload), (listed) => listed.tools), () => [])
