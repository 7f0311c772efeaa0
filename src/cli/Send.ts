/**
 * `arcp send`: opens a session, sends one message, and prints every message the
 * runtime answers it with as JSON lines (exit 1 on a nack or rejection).
 */
import { Command, Options } from "@effect/cli"
import { Config, Console, Data, Duration, Effect, Option, Schema, Stream } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import { encodeUnchecked, isMessageType, type MessageType, payloads, type PayloadOf } from "../protocol/Message.js"
import * as Client from "../client/Client.js"
import type { Credentials } from "../client/Credentials.js"
import { jwtSigner } from "../client/Credentials.js"
import * as WebSocket from "../transport/WebSocket.js"

/** Ends the process with a status code; the command already printed why. */
export class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

/** Sets the process exit status from an `ExitCode` (the CLI edge; use with `Effect.catchTag("ExitCode", ...)`). */
export const setExitCode = (e: ExitCode): Effect.Effect<void> => Effect.sync(() => { process.exitCode = e.code })

const env = <A>(options: Options.Options<A>, config: Config.Config<A>) => options.pipe(Options.withFallbackConfig(config))

const options = {
  url: env(Options.text("url"), Config.string("ARCP_URL")).pipe(Options.withDefault("ws://127.0.0.1:7777"), Options.withDescription("[ARCP_URL]")),
  token: env(Options.text("token"), Config.string("ARCP_TOKEN")).pipe(Options.optional, Options.withDescription("bearer token [ARCP_TOKEN]")),
  jwtSecret: env(Options.text("jwt-secret"), Config.string("ARCP_JWT_SECRET")).pipe(Options.optional, Options.withDescription("sign a signed_jwt with this HS256 secret [ARCP_JWT_SECRET]")),
  subject: Options.text("subject").pipe(Options.withDefault("arcp-cli"), Options.withDescription("JWT subject when signing")),
  audience: Options.text("audience").pipe(Options.withDefault("arcp://runtime"), Options.withDescription("JWT audience when signing")),
  anonymous: Options.boolean("anonymous").pipe(Options.withDescription("scheme none, negotiating capabilities.anonymous")),
  pin: Options.text("pin").pipe(Options.optional, Options.withDescription("refuse a runtime whose fingerprint differs")),
  type: Options.text("type").pipe(Options.withDefault("ping"), Options.withDescription("the message type to send")),
  payload: Options.text("payload").pipe(Options.withDefault("{}"), Options.withDescription("the payload, as JSON")),
  wait: Options.integer("wait").pipe(Options.withDefault(10_000), Options.withDescription("milliseconds to wait for answers"))
}

const credentialsOf = (o: {
  readonly token: Option.Option<string>
  readonly jwtSecret: Option.Option<string>
  readonly subject: string
  readonly audience: string
  readonly anonymous: boolean
}): Credentials => {
  if (Option.isSome(o.token)) return { scheme: "bearer", token: o.token.value }
  if (Option.isSome(o.jwtSecret)) {
    return { scheme: "signed_jwt", audience: o.audience, signer: jwtSigner({ subject: o.subject, secret: o.jwtSecret.value }) }
  }
  return { scheme: "none" }
}

/** Decodes `--payload` against the type's schema, so a typo is reported before anything is sent. */
const payloadFor = <T extends MessageType>(type: T, json: string) =>
  Schema.decodeUnknown(Schema.parseJson(payloads[type]))(json).pipe(
    Effect.mapError((e) => ArcpError.of("INVALID_ARGUMENT", `--payload for ${type}: ${e.message}`))
  ) as Effect.Effect<PayloadOf<T>, ArcpError> // the schema of `type` decodes exactly PayloadOf<type>

export const send = Command.make("send", options, (o) =>
  Effect.gen(function*() {
    if (!isMessageType(o.type)) return yield* ArcpError.of("INVALID_ARGUMENT", `unknown message type "${o.type}"`)
    const type = o.type
    const payload = yield* payloadFor(type, o.payload)
    const connection = yield* WebSocket.connect(o.url)
    const session = yield* Client.connect(connection, {
      credentials: credentialsOf(o),
      capabilities: o.anonymous ? { anonymous: true } : {},
      pinFingerprint: Option.getOrUndefined(o.pin),
      client: { kind: "arcp-cli", version: "0.1.0" }
    })
    const messages = yield* session.subscribe
    const id = yield* session.send(type, payload)
    // the message answering ours (or nothing, when the wait runs out)
    const answers = yield* messages.pipe(
      Stream.filter((m) => m.correlation_id === id),
      Stream.take(1),
      Stream.interruptWhen(Effect.sleep(Duration.millis(o.wait))),
      Stream.runCollect
    )
    for (const m of answers) yield* Console.log(encodeUnchecked(m))
    yield* session.close()
    const nacked = [...answers].some((m) => m.type === "nack")
    if (nacked || answers.length === 0) {
      if (answers.length === 0) yield* Console.error(`no answer within ${o.wait} ms`)
      return yield* new ExitCode({ code: 1 })
    }
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      ArcpError: (e) => Console.error(`error ${e.code}: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 })))),
      ClientError: (e) => Console.error(`error ${e.reason}: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 })))),
      TransportError: (e) => Console.error(`cannot connect: ${e.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 }))))
    }),
    Effect.catchTag("ExitCode", setExitCode)
  )
).pipe(Command.withDescription("Send one message to a runtime and print its answers as JSON lines"))
