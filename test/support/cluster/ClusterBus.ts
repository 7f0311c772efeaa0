/**
 * Several runtimes in one process sharing one store, as they would share PostgreSQL: each gets its
 * own `EventBus`, driven by the log like the LISTEN/NOTIFY bus — a commit anywhere wakes every
 * node's reader ("notify"), which reads the log after the last position it handed out and publishes
 * those rows in position order. Nothing but positions crosses nodes; an `Unrecorded` stays on the
 * node that failed to record.
 */
import { Effect, Either, Layer, PubSub, Queue } from "effect"
import { decodeJson } from "../../../src/protocol/Message.js"
import { makeSubscribers, type Published, SharedEventBus } from "../../../src/runtime/events/EventBus.js"
import { EventLog, MAX_PAGE } from "../../../src/store/EventLog.js"

/** The cluster's notification channel: one per test. */
export const makeChannel = PubSub.unbounded<void>()

/** One node's bus on `channel`: needs that node's view of the shared log. */
export const nodeBus = (channel: PubSub.PubSub<void>): Layer.Layer<SharedEventBus, never, EventLog> =>
  Layer.scoped(
    SharedEventBus,
    Effect.gen(function*() {
      const log = yield* EventLog
      const local = makeSubscribers()
      const wakes = yield* PubSub.subscribe(channel)
      let last = yield* Effect.orDie(log.head)
      const catchUp = Effect.gen(function*() {
        while (true) {
          const rows = yield* log.read({ direction: "out", after: last, limit: MAX_PAGE })
          const events: Array<Published> = []
          for (const row of rows) {
            last = row.position
            const envelope = decodeJson(row.json)
            if (Either.isLeft(envelope) || row.principal === undefined) continue
            events.push({
              position: row.position,
              sessionId: row.session_id,
              principal: row.principal,
              envelope: envelope.right,
              json: row.json
            })
          }
          if (events.length > 0) local.deliver({ _tag: "Committed", events })
          if (rows.length < MAX_PAGE) return
        }
      })
      yield* Queue.take(wakes).pipe(
        Effect.zipRight(Queue.takeAll(wakes)),
        Effect.zipRight(catchUp),
        // a node whose log is gone (a killed node) just stops hearing
        Effect.forever,
        Effect.catchAll(() => Effect.void),
        Effect.forkScoped
      )
      return SharedEventBus.of({
        publish: (message) =>
          message._tag === "Committed"
            ? Effect.asVoid(PubSub.publish(channel, undefined))
            : Effect.sync(() => local.deliver(message)),
        subscribe: local.subscribe
      })
    })
  )
