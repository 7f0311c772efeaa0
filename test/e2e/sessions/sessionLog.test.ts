/**
 * A connection's log lines name it, and once its session is accepted, the session too: the "session accepted"
 * line carries both annotations (set once for the connection's life, not per line).
 */
import { assert, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, LogLevel } from "effect"
import * as Auth from "../../../src/runtime/auth/Auth.js"
import * as Runtime from "../../../src/runtime/Runtime.js"
import * as Tools from "../../../src/runtime/Tools.js"
import * as MemoryArtifactStore from "../../../src/store/MemoryArtifactStore.js"
import * as MemoryEventLog from "../../../src/store/MemoryEventLog.js"
import * as Memory from "../../../src/transport/Memory.js"
import { rawSession } from "../../support/CoreServer.js"
import { dial } from "../../support/Harness.js"

const lines: Array<{ readonly message: string; readonly annotations: Record<string, unknown> }> = []
const keeper = Logger.make(({ annotations, message }) => {
  lines.push({ message: String(message), annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
})

const server = Runtime.serve.pipe(
  Layer.provideMerge(Runtime.layer()),
  Layer.provide(Layer.mergeAll(
    Auth.layer({ audience: "arcp://runtime", bearer: new Map([["log-token", "logger"]]) }),
    Tools.layer([]),
    MemoryEventLog.layer,
    MemoryArtifactStore.layer
  )),
  Layer.provideMerge(Memory.layer()),
  Layer.provide(Logger.replace(Logger.defaultLogger, keeper)),
  Layer.provide(Logger.minimumLogLevel(LogLevel.Info))
)

it.scoped("the session accepted log line names the connection and the session", () =>
  Effect.gen(function*() {
    const connection = yield* dial
    const { accepted } = yield* rawSession(connection, {}, "log-token")
    const line = lines.find((l) => l.message.startsWith("session accepted for logger"))
    assert.isDefined(line)
    assert.strictEqual(line?.annotations.session_id, accepted.session_id)
    assert.match(String(line?.annotations.connection), /^memory#/)
  }).pipe(Effect.provide(server)))
