/** The connection flags and the session opening shared by the commands that talk to a runtime (artifact, tools, mcp). */
import { Options } from "@effect/cli"
import { Config, Console, Effect } from "effect"
import { dialUrl } from "../client/ArcpClient.js"
import * as Client from "../client/Client.js"
import type { Capabilities } from "../protocol/Capabilities.js"
import { VERSION } from "../Version.js"
import { credentialsOf, ExitCode } from "./Send.js"
import * as Settings from "./Settings.js"

/** `--url`, `--token`, `--jwt-secret` (`--subject`, `--audience`) and `--anonymous`; `subject` is the JWT's default subject. */
export const options = (subject: string) => ({
  url: Settings.withEnv(Options.text("url"), Config.string("ARCP_URL")).pipe(
    Options.withDefault("ws://127.0.0.1:7777"),
    Options.withDescription(
      "the runtime: ws:// or wss:// (WebSocket), unix:///path (Unix socket), http:// (h2c) or https:// (HTTP/2) [ARCP_URL]"
    )
  ),
  token: Settings.optionalText("token", "ARCP_TOKEN", "bearer token"),
  jwtSecret: Settings.optionalText("jwt-secret", "ARCP_JWT_SECRET", "sign a signed_jwt with this HS256 secret"),
  subject: Options.text("subject").pipe(Options.withDefault(subject), Options.withDescription("JWT subject")),
  audience: Options.text("audience").pipe(
    Options.withDefault("arcp://runtime"),
    Options.withDescription("JWT audience when signing")
  ),
  anonymous: Options.boolean("anonymous").pipe(Options.withDescription("scheme none (capabilities.anonymous)"))
})

/**
 * Opens a session with the command's credentials (exit 2 with one sentence when there are none); the
 * session lives as long as the scope.
 */
export const open = (
  o: Parameters<typeof credentialsOf>[0] & { readonly url: string },
  client: { readonly kind: string; readonly capabilities?: Capabilities }
) =>
  Effect.gen(function*() {
    const credentials = credentialsOf(o)
    if (credentials === undefined) {
      return yield* Console.error(
        "arcp: no credentials: pass --token or set ARCP_TOKEN (or --jwt-secret to sign a JWT, or --anonymous where the runtime allows it)"
      ).pipe(Effect.zipRight(new ExitCode({ code: 2 })))
    }
    // every scheme the client dials, as `arcp send` does
    const connection = yield* dialUrl(o.url)
    return yield* Client.connect(connection, {
      credentials,
      capabilities: { ...client.capabilities, ...(o.anonymous ? { anonymous: true } : {}) },
      client: { kind: client.kind, version: VERSION }
    })
  })

/** A failed command's answer: one line on stderr, then exit 1. */
export const failWith = (line: string) =>
  Console.error(line).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 }))))
