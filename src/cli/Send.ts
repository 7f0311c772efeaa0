/**
 * `arcp send`: opens a session, sends one message, and prints every message the
 * runtime answers it with as JSON lines (exit 1 on a nack or rejection).
 */
import { Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Option, Stream } from "effect"
import * as Client from "../client/Client.js"
import { ArcpError } from "../protocol/Errors.js"
import { encodeUnchecked, isMessageType, type MessageType, type PayloadOf } from "../protocol/Message.js"
import { decodePayload } from "../protocol/PayloadDecoder.js"
import * as Connect from "./Connect.js"
import { ExitCode, setExitCode } from "./Failure.js"
import * as Settings from "./Settings.js"

const options = {
  url: Settings.text(
    "url",
    "ARCP_URL",
    "ws://127.0.0.1:7777",
    "the runtime: ws:// or wss:// (WebSocket), unix:///path (Unix socket), http:// (h2c) or https:// (HTTP/2)"
  ),
  token: Settings.optionalText("token", "ARCP_TOKEN", "bearer token"),
  jwtSecret: Settings.optionalText("jwt-secret", "ARCP_JWT_SECRET", "sign a signed_jwt with this HS256 secret"),
  subject: Options.text("subject").pipe(
    Options.withDefault("arcp-cli"),
    Options.withDescription("JWT subject when signing")
  ),
  audience: Options.text("audience").pipe(
    Options.withDefault("arcp://runtime"),
    Options.withDescription("JWT audience when signing")
  ),
  anonymous: Options.boolean("anonymous").pipe(
    Options.withDescription("scheme none, negotiating capabilities.anonymous")
  ),
  ...Settings.clientTls,
  pin: Options.text("pin").pipe(
    Options.optional,
    Options.withDescription("refuse a runtime whose fingerprint differs")
  ),
  tool: Options.text("tool").pipe(
    Options.optional,
    Options.withDescription("invoke this tool and print the job's messages until its terminal event")
  ),
  args: Options.text("args").pipe(
    Options.withDefault("{}"),
    Options.withDescription("the tool's arguments, as JSON (with --tool)")
  ),
  idempotencyKey: Options.text("idempotency-key").pipe(
    Options.optional,
    Options.withDescription("logical idempotency key (with --tool)")
  ),
  schedule: Options.text("schedule").pipe(
    Options.optional,
    Options.withDescription(
      "with --tool: schedule the call instead (job.schedule): a when as JSON, {\"at\":RFC 3339}, {\"after\":seconds} or {\"every\":RRULE}; prints the answer naming the schedule"
    )
  ),
  noReconnect: Options.boolean("no-reconnect").pipe(
    Options.withDescription(
      "do not reconnect when the connection drops (by default the session is taken back and resumed, §19)"
    )
  ),
  type: Options.text("type").pipe(Options.withDefault("ping"), Options.withDescription("the message type to send")),
  payload: Options.text("payload").pipe(Options.withDefault("{}"), Options.withDescription("the payload, as JSON")),
  wait: Options.integer("wait").pipe(
    Options.withDefault(10_000),
    Options.withDescription(
      "milliseconds to wait for the answer (with --tool: for the job's terminal event; a job still running then is left running, detached, and the exit status is 1) (default 10000)"
    )
  )
}

/** ` CODE: message` of a nack's or a failed job's payload, for the closing sentence on stderr. */
const describeFailure = (payload: unknown): string => {
  if (typeof payload !== "object" || payload === null) return ""
  const code: unknown = Reflect.get(payload, "code") ?? Reflect.get(payload, "reason")
  const message: unknown = Reflect.get(payload, "message")
  return `${typeof code === "string" ? ` ${code}` : ""}${typeof message === "string" ? `: ${message}` : ""}`
}

const parseJson = (text: string, flag: string) =>
  Effect.try({
    try: (): unknown => JSON.parse(text),
    catch: () => ArcpError.of("INVALID_ARGUMENT", `${flag} is not valid JSON`)
  })

/** Decodes a payload given by `flag` against the type's schema, so a typo is reported before anything is sent. */
const payloadFor = <T extends MessageType>(type: T, input: unknown, flag: string) =>
  decodePayload(type, input).pipe(
    Effect.mapError((e) => ArcpError.of("INVALID_ARGUMENT", `${flag} for ${type}: ${e.message}`))
  )

export const send = Command.make("send", options, (o) =>
  Effect.gen(function*() {
    const toolCall = Option.isSome(o.tool)
      ? Option.some(
        yield* payloadFor(
          "tool.invoke",
          { tool: o.tool.value, arguments: yield* parseJson(o.args, "--args") },
          "--tool/--args"
        )
      )
      : Option.none<PayloadOf<"tool.invoke">>()
    const scheduled = Option.isSome(o.schedule)
      ? Option.isNone(toolCall)
        ? yield* ArcpError.of("INVALID_ARGUMENT", "--schedule needs --tool (the call to schedule)")
        : Option.some(
          yield* payloadFor("job.schedule", {
            job: { type: "tool.invoke", payload: toolCall.value },
            when: yield* parseJson(o.schedule.value, "--schedule")
          }, "--schedule")
        )
      : Option.none<PayloadOf<"job.schedule">>()
    if (!isMessageType(o.type)) return yield* ArcpError.of("INVALID_ARGUMENT", `unknown message type "${o.type}"`)
    const type = o.type
    const payload = Option.isNone(toolCall)
      ? yield* payloadFor(type, yield* parseJson(o.payload, "--payload"), "--payload")
      : undefined
    const session = yield* Connect.open(o, {
      kind: "arcp-cli",
      pinFingerprint: Option.getOrUndefined(o.pin),
      ...(o.noReconnect ? { reconnect: false as const } : {})
    })
    const messages = yield* session.messages
    const id = Option.isSome(scheduled)
      ? yield* session.send(
        "job.schedule",
        scheduled.value,
        Option.isSome(o.idempotencyKey) ? { idempotency_key: o.idempotencyKey.value } : {}
      )
      : Option.isSome(toolCall)
      ? yield* session.send(
        "tool.invoke",
        toolCall.value,
        Option.isSome(o.idempotencyKey) ? { idempotency_key: o.idempotencyKey.value } : {}
      )
      : payload !== undefined
      ? yield* session.send(type, payload)
      : yield* ArcpError.of("INTERNAL", "no payload")
    // a plain message or a schedule: its one answer; a tool call: the job's messages up to its terminal event
    let jobId: string | undefined
    const answers = yield* messages.pipe(
      Stream.filter((m) => m.correlation_id === id || (jobId !== undefined && m.job_id === jobId)),
      // a schedule's answer is its own: the firings that follow are jobs of their own, not printed here
      Stream.tap((m) =>
        Effect.sync(() => {
          if (m.type === "job.accepted") jobId = m.job_id
        })
      ),
      Stream.takeUntil((m) =>
        Option.isNone(toolCall) || Option.isSome(scheduled) || m.type === "nack" || Client.terminalTypes.has(m.type)
      ),
      Stream.tap((m) => Console.log(encodeUnchecked(m))),
      Stream.interruptWhen(Effect.sleep(Duration.millis(o.wait))),
      Stream.runCollect
    )
    const last = [...answers].at(-1)
    // --wait ran out on a job that is still running: leave it running (detached), and say so
    const running = jobId !== undefined && last !== undefined && last.type !== "nack" &&
      !Client.terminalTypes.has(last.type)
    yield* session.close(running ? { dispose_jobs: "detach" } : {})
    if (running) {
      yield* Console.error(
        `arcp: job ${jobId} is still running after --wait ${o.wait} ms; it carries on, detached, on the runtime`
      )
      return yield* new ExitCode({ code: 1 })
    }
    const failed = last === undefined || ["nack", "tool.error", "job.failed", "job.cancelled"].includes(last.type)
    if (last === undefined) yield* Console.error(`arcp: no answer within --wait ${o.wait} ms`)
    else if (failed) yield* Console.error(`arcp: ${last.type}${describeFailure(last.payload)}`)
    if (failed) return yield* new ExitCode({ code: 1 })
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      ArcpError: (e) =>
        Console.error(`error ${e.code}: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 })))),
      ClientError: (e) =>
        Console.error(`error ${e.reason}: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 })))),
      TransportError: (e) =>
        Console.error(`arcp: ${Connect.cannotConnect(o.url, e)}`).pipe(
          Effect.zipRight(Effect.fail(new ExitCode({ code: 1 })))
        )
    }),
    Effect.catchTag("ExitCode", setExitCode)
  )).pipe(Command.withDescription("Send one message to a runtime and print its answers as JSON lines"))
