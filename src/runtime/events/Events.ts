/**
 * The event path as one layer: the `EventBus`, the `Recorder` that commits
 * then publishes, and the `Feed` that readers follow. It needs the `EventLog`.
 */
import { Layer } from "effect"
import type { EventLog } from "../../store/EventLog.js"
import * as EventBus from "./EventBus.js"
import * as Feed from "./Feed.js"
import * as Recorder from "./Recorder.js"

export const layer: Layer.Layer<EventBus.EventBus | Feed.Feed | Recorder.Recorder, never, EventLog> = Layer.mergeAll(
  Feed.layer,
  Recorder.layer
).pipe(Layer.provideMerge(EventBus.layer))
