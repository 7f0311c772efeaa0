/**
 * MCP resources as §20 advises: not a parallel concept but ARCP tools over
 * artifacts (§16) and `kind: event` streams (§11.1). For an MCP server `NAME`
 * that offers resources:
 *   - `NAME.resources.list {cursor?}` lists them (one page, as MCP pages them);
 *   - `NAME.resources.read {uri}` stores each of the resource's contents as an
 *     artifact of the job and returns the refs;
 *   - `NAME.resources.subscribe {uri, read?}` (servers that support subscribing)
 *     is a job with one `kind: event` stream: a chunk per change of the resource
 *     (with fresh artifacts when `read`), until the job is cancelled.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { Effect, Option, Queue, Schema } from "effect"
import { ArcpError } from "../protocol/Errors.js"
import * as Tools from "../runtime/Tools.js"
import { fromMcpFailure, type PutArtifact, storeResourceContents } from "./Convert.js"
import type { Link, Supervised } from "./Supervisor.js"

/** The names (after `NAME.`) of the resource tools; an MCP tool of the same name wins over them. */
export const LIST = "resources.list"
export const READ = "resources.read"
export const SUBSCRIBE = "resources.subscribe"

/** Changes waiting to be written to a subscription's stream; past this the oldest are dropped (a change is a hint to re-read). */
const UPDATE_BUFFER = 64

const Uri = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(4096))

const linkOf = (supervised: Supervised) =>
  Option.match(supervised.current(), {
    onNone: () =>
      Effect.fail(
        ArcpError.of("UNAVAILABLE", `MCP server "${supervised.spec.name}" is down (it is being restarted); retry later`)
      ),
    onSome: Effect.succeed
  })

const mcp = <A>(supervised: Supervised, run: (client: Client, signal: AbortSignal) => Promise<A>) =>
  Effect.flatMap(linkOf(supervised), (link) =>
    Effect.tryPromise({
      try: (signal) => run(link.client, signal),
      catch: (e) => fromMcpFailure(supervised.spec.name, e)
    }))

/** `resources/read` with every contents item stored as an artifact. */
const readInto = Effect.fnUntraced(function*(supervised: Supervised, uri: string, put: PutArtifact) {
  const read = yield* mcp(supervised, (client, signal) => client.readResource({ uri }, { signal }))
  const contents = yield* Effect.forEach(
    read.contents,
    (item) => storeResourceContents(supervised.spec.name, item, put, true)
  )
  return { uri, contents }
})

const list = (supervised: Supervised) =>
  Tools.make({
    name: `${supervised.spec.name}.${LIST}`,
    description:
      `Lists the resources of the MCP server "${supervised.spec.name}" (one page; pass next_cursor for more)`,
    parameters: Schema.Struct({ cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(4096))) }),
    handler: ({ cursor }) =>
      Effect.map(
        mcp(supervised, (client, signal) => client.listResources(cursor === undefined ? {} : { cursor }, { signal })),
        (listed) => ({
          resources: listed.resources,
          ...(listed.nextCursor !== undefined ? { next_cursor: listed.nextCursor } : {})
        })
      )
  })

const read = (supervised: Supervised) =>
  Tools.make({
    name: `${supervised.spec.name}.${READ}`,
    description:
      `Reads a resource of the MCP server "${supervised.spec.name}"; its contents are stored as artifacts of the job`,
    parameters: Schema.Struct({ uri: Uri }),
    handler: ({ uri }, ctx) => readInto(supervised, uri, (bytes, mediaType) => ctx.putArtifact(bytes, mediaType))
  })

/**
 * Subscribes once per URI and connection, however many jobs watch it: the MCP
 * subscription is per client, so the last watcher to leave unsubscribes.
 */
const watching = new WeakMap<Link, Map<string, number>>()

const subscribe = (supervised: Supervised) =>
  Tools.make({
    name: `${supervised.spec.name}.${SUBSCRIBE}`,
    description:
      `Watches a resource of the MCP server "${supervised.spec.name}": an event stream chunk per change (with its contents as artifacts when read is true), until cancelled`,
    parameters: Schema.Struct({ uri: Uri, read: Schema.optional(Schema.Boolean) }),
    handler: ({ read: reread, uri }, ctx) =>
      Effect.gen(function*() {
        const link = yield* linkOf(supervised)
        const changes = yield* Queue.sliding<void>(UPDATE_BUFFER)
        const counts = watching.get(link) ?? new Map<string, number>()
        watching.set(link, counts)
        // routed before subscribing, so no change after the subscription is missed
        yield* Effect.acquireRelease(
          Effect.sync(() => link.resourceUpdates(uri, () => changes.unsafeOffer(undefined))),
          (unroute) => Effect.sync(unroute)
        )
        yield* Effect.acquireRelease(
          Effect.gen(function*() {
            const count = counts.get(uri) ?? 0
            counts.set(uri, count + 1)
            if (count === 0) {
              yield* mcp(supervised, (client, signal) => client.subscribeResource({ uri }, { signal })).pipe(
                Effect.tapError(() => Effect.sync(() => counts.delete(uri)))
              )
            }
          }),
          () =>
            Effect.gen(function*() {
              const left = (counts.get(uri) ?? 1) - 1
              if (left > 0) return counts.set(uri, left)
              counts.delete(uri)
              yield* Effect.ignore(mcp(supervised, (client) => client.unsubscribeResource({ uri })))
            })
        )
        const events = yield* ctx.stream({ kind: "event", content_type: "application/json" })
        const put: PutArtifact = (bytes, mediaType) => ctx.putArtifact(bytes, mediaType)
        yield* events.write({ event: "subscribed", uri })
        for (let change = 1;; change++) {
          const changed = yield* Effect.raceFirst(Effect.as(Queue.take(changes), true), Effect.as(link.closed, false))
          // the connection that carried the subscription is gone: the watcher is told to subscribe again
          if (!changed) {
            return yield* ArcpError.of(
              "UNAVAILABLE",
              `MCP server "${supervised.spec.name}" restarted; subscribe to ${uri} again`
            )
          }
          const contents = reread === true ? (yield* readInto(supervised, uri, put)).contents : undefined
          yield* events.write({ event: "updated", uri, change, ...(contents !== undefined ? { contents } : {}) })
        }
      }).pipe(Effect.scoped)
  })

const made = new WeakMap<object, ReadonlyArray<Tools.Tool>>()

/** The resource tools of `supervised`, as its last start described its resources capability. */
export const resourceTools = (supervised: Supervised): ReadonlyArray<Tools.Tool> => {
  const capabilities = supervised.lastCapabilities()
  const resources = capabilities.resources
  if (resources === undefined) return []
  const known = made.get(capabilities)
  if (known !== undefined) return known
  const tools = [list(supervised), read(supervised), ...(resources.subscribe === true ? [subscribe(supervised)] : [])]
  made.set(capabilities, tools)
  return tools
}
