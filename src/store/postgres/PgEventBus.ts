/**
 * The `EventBus` of runtimes sharing one PostgreSQL database, on LISTEN/NOTIFY. A notification carries
 * only a position (the last one a commit took): the rows come from the log, so PostgreSQL's payload
 * limit does not matter, and a listener that lost its connection catches up from the last position it
 * delivered once it listens again.
 *
 * One pump per runtime delivers every committed outbound envelope, whoever wrote it, to the local
 * subscribers in position order: it reads the log after the last position it delivered, woken by
 * notifications (other runtimes' commits, and ours) and by this runtime's own publishes. Positions are
 * commit-ordered (PgWriter), so a read after position P never misses a row that commits later below it.
 * A local publish waits until the pump has delivered its batch (so, as with the in-process bus, what
 * the recorder published is in the subscribers' queues when it returns), and its decoded envelopes are
 * handed over as they are, not decoded again. When every position from the last delivered one to the
 * batch is this runtime's own (its outbound batch, its inbound envelopes), the batch is delivered
 * straight away: the log has nothing else there to read.
 */
import { Deferred, Effect, FiberId, Queue, Schedule } from "effect"
import pg from "pg"
import { EventBus, makeSubscribers, type Published } from "../../runtime/events/EventBus.js"
import { fromStored } from "../../runtime/events/Feed.js"
import { EventLog, MAX_PAGE } from "../EventLog.js"
import { CHANNEL } from "./PgWriter.js"

export interface Options {
  /** The database's URL (the listener holds a connection of its own). */
  readonly url: string
  /** The name the listening connection shows in pg_stat_activity. */
  readonly applicationName?: string | undefined
  /**
   * The positions this runtime's inbound envelopes took (filled by its `PgEventLog`, emptied here): with
   * them, a local batch whose every position back to the last delivered one is this runtime's own is
   * delivered without reading the log back (positions are gapless, so nothing of another runtime can be
   * in between).
   */
  readonly localInbound?: Set<number> | undefined
}

interface Waiter {
  readonly upTo: number
  readonly done: Deferred.Deferred<void>
}

export const make = Effect.fnUntraced(function*(
  options: Options
) {
  const log = yield* EventLog
  // the local subscribers, each handed the batches that concern it
  const subscribers = makeSubscribers()
  // what the subscribers have been given: everything up to this position
  let delivered = yield* log.head
  // this runtime's own committed envelopes, by position, until the pump delivers them
  const local = new Map<number, Published>()
  let waiters: Array<Waiter> = []
  const doorbell = yield* Queue.sliding<void>(1)
  const localInbound = options.localInbound ?? new Set<number>()

  /** Moves `delivered` forward to `to`, forgetting what is now behind it. */
  const advance = (to: number) => {
    delivered = to
    for (const p of localInbound) if (p <= to) localInbound.delete(p)
    for (const p of local.keys()) if (p <= to) local.delete(p)
  }

  const release = () => {
    const ready = waiters.filter((w) => w.upTo <= delivered)
    if (ready.length === 0) return
    waiters = waiters.filter((w) => w.upTo > delivered)
    for (const w of ready) Deferred.unsafeDone(w.done, Effect.void)
  }

  // moving `delivered` and publishing what it covers are one step: the pump and a local publish take turns
  const delivering = yield* Effect.makeSemaphore(1)
  const deliver = (to: number, events: ReadonlyArray<Published>) =>
    Effect.sync(() => {
      advance(to)
      if (events.length > 0) subscribers.deliver({ _tag: "Committed", events })
      release()
    })

  /** Delivers every committed outbound row after `delivered`, page by page, in position order. */
  const drain = Effect.gen(function*() {
    while (true) {
      const page = yield* log.read({ direction: "out", after: delivered, limit: MAX_PAGE })
      const last = page[page.length - 1]
      if (last === undefined) return
      yield* delivering.withPermits(1)(Effect.suspend(() => {
        // what a local publish delivered while this page was being read is not delivered again
        if (last.position <= delivered) return Effect.void
        const events: Array<Published> = []
        for (const row of page) {
          if (row.position <= delivered) continue
          const event = local.get(row.position) ?? fromStored(row)
          if (event !== undefined) events.push(event)
        }
        return deliver(last.position, events)
      }))
      if (page.length < MAX_PAGE) return
    }
  })

  yield* Effect.gen(function*() {
    while (true) {
      yield* Queue.take(doorbell)
      yield* drain.pipe(
        Effect.catchAll((e) =>
          // the log cannot be read now: try again shortly (publishers wait meanwhile)
          Effect.logWarning(`cannot read the event log for the event bus: ${e.message}`).pipe(
            Effect.zipRight(Effect.sleep("1 second")),
            Effect.zipRight(Queue.offer(doorbell, undefined))
          )
        )
      )
    }
  }).pipe(Effect.forkScoped)

  // one connection of its own, listening; on every (re)connection the pump catches up
  const listenOnce = Effect.acquireRelease(
    Effect.tryPromise(async () => {
      const client = new pg.Client({
        connectionString: options.url,
        application_name: options.applicationName ?? "arcp-bus"
      })
      client.on("error", () => {})
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end()).pipe(Effect.timeoutOption("1 second"))
  ).pipe(
    Effect.flatMap((client) =>
      Effect.async<never, Error>((resume) => {
        const onNotification = (message: pg.Notification) => {
          if (message.channel === CHANNEL) Queue.unsafeOffer(doorbell, undefined)
        }
        const onError = (error: Error) => resume(Effect.fail(error))
        const onEnd = () => resume(Effect.fail(new Error("the listening connection ended")))
        client.on("notification", onNotification)
        client.on("error", onError)
        client.on("end", onEnd)
        client.query(`LISTEN ${CHANNEL}`).then(() => Queue.unsafeOffer(doorbell, undefined), onError)
        return Effect.sync(() => {
          client.off("notification", onNotification)
          client.off("error", onError)
          client.off("end", onEnd)
        })
      })
    ),
    Effect.scoped
  )
  yield* listenOnce.pipe(
    Effect.tapError((e) => Effect.logWarning(`the event bus lost its PostgreSQL connection: ${e.message}`)),
    Effect.retry(Schedule.union(Schedule.exponential("100 millis"), Schedule.spaced("5 seconds"))),
    Effect.forkScoped
  )

  return EventBus.of({
    publish: (message) =>
      message._tag === "Unrecorded"
        // nothing of it is in the log: only this runtime's sessions are concerned
        ? Effect.sync(() => subscribers.deliver(message))
        : delivering.withPermits(1)(Effect.suspend(() => {
          let upTo = 0
          for (const event of message.events) {
            if (event.position > delivered) local.set(event.position, event)
            upTo = Math.max(upTo, event.position)
          }
          if (upTo <= delivered) return Effect.succeed(Effect.void)
          // every position from the last delivered one up to this batch is ours: nothing to read back
          let next = delivered + 1
          const own: Array<Published> = []
          while (next <= upTo) {
            const event = local.get(next)
            if (event !== undefined) own.push(event)
            else if (!localInbound.has(next)) break
            next++
          }
          if (next > upTo) return Effect.as(deliver(upTo, own), Effect.void)
          const done = Deferred.unsafeMake<void>(FiberId.none)
          waiters.push({ upTo, done })
          Queue.unsafeOffer(doorbell, undefined)
          // waited for outside the turn, so the pump can take it
          return Effect.succeed(Deferred.await(done))
        })).pipe(Effect.flatten),
    subscribe: subscribers.subscribe
  })
})
