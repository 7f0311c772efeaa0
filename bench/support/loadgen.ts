/**
 * The load generator of bench/sidebyside: a separate process that speaks ARCP's wire format over bare `ws`
 * and JSON (no client library of either implementation), so arcp and the peer are driven by exactly the
 * same code, as a user's own client would drive them. One load per run; argv[2] is its JSON description,
 * the result is one JSON line on stdout.
 *
 * Loads: `echo` (invoke/result round trips; `connections` × `inFlight` loops), `handshake` (connect,
 * session.open → session.accepted, session.close, socket closed; one at a time), `ticker` (one
 * `ticker {count}` job at a time, progress events counted), `stream` (one `stream {chunks: count}` job at a time,
 * stream.chunk events counted; arcp's demo tool, not the peer's), `idle` (opens `sessions` sessions, reports
 * when they are all accepted, holds them until stdin closes).
 */
import { performance } from "node:perf_hooks"
import { WebSocket } from "ws"

interface Load {
  readonly url: string
  readonly token: string
  readonly kind: "echo" | "handshake" | "ticker" | "stream" | "idle"
  readonly seconds: number
  readonly inFlight?: number
  readonly connections?: number
  readonly count?: number
  readonly sessions?: number
}

const load: Load = JSON.parse(process.argv[2] ?? "{}")
const prefix = `msg_bench${process.pid.toString(36)}x${Math.floor(Math.random() * 1e9).toString(36)}`
let counter = 0
const nextId = () => `${prefix}${(counter++).toString(36)}`

interface Envelope {
  readonly type: string
  readonly correlation_id?: string
  readonly payload?: { readonly session_id?: string }
}

/** One session on its own socket: requests keyed by id, answered by envelopes that carry it as correlation_id. */
class Session {
  private readonly waiting = new Map<string, (envelope: Envelope) => void>()
  private readonly onEvent: (envelope: Envelope) => void
  sessionId = ""
  constructor(private readonly socket: WebSocket, onEvent: (envelope: Envelope) => void) {
    this.onEvent = onEvent
    socket.on("message", (data) => {
      const envelope: Envelope = JSON.parse(data.toString())
      const settle = envelope.correlation_id === undefined ? undefined : this.waiting.get(envelope.correlation_id)
      if (settle !== undefined && envelope.type !== "job.accepted") {
        this.waiting.delete(envelope.correlation_id ?? "")
        settle(envelope)
      } else this.onEvent(envelope)
    })
  }

  static open(url: string, token: string, onEvent: (envelope: Envelope) => void = () => {}): Promise<Session> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false })
      socket.once("error", reject)
      socket.once("open", () => {
        const session = new Session(socket, onEvent)
        session.request("session.open", {
          auth: { scheme: "bearer", token },
          client: { kind: "arcp-bench", version: "1" },
          capabilities: {}
        }).then((accepted) => {
          if (accepted.type !== "session.accepted") reject(new Error(`handshake answered ${accepted.type}`))
          session.sessionId = accepted.payload?.session_id ?? ""
          resolve(session)
        }, reject)
      })
    })
  }

  request(type: string, payload: unknown): Promise<Envelope> {
    const id = nextId()
    const envelope = {
      arcp: "1.0",
      id,
      type,
      timestamp: new Date().toISOString(),
      ...(this.sessionId === "" ? {} : { session_id: this.sessionId }),
      payload
    }
    return new Promise((resolve) => {
      this.waiting.set(id, resolve)
      this.socket.send(JSON.stringify(envelope))
    })
  }

  invoke(tool: string, args: unknown): Promise<Envelope> {
    return this.request("tool.invoke", { tool, arguments: args })
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve())
      this.socket.send(JSON.stringify({
        arcp: "1.0",
        id: nextId(),
        type: "session.close",
        timestamp: new Date().toISOString(),
        session_id: this.sessionId,
        payload: {}
      }))
      this.socket.close()
    })
  }
}

const loops = async (count: number, seconds: number, body: () => Promise<void>) => {
  const latencies: Array<number> = []
  const start = performance.now()
  const deadline = start + seconds * 1000
  await Promise.all(Array.from({ length: count }, async () => {
    while (performance.now() < deadline) {
      const t = performance.now()
      await body()
      latencies.push(performance.now() - t)
    }
  }))
  return { latencies, elapsedMs: performance.now() - start }
}

const echo = async () => {
  const sessions = await Promise.all(
    Array.from({ length: load.connections ?? 1 }, () => Session.open(load.url, load.token))
  )
  const args = { query: "*.ts", page: 1 }
  const all = sessions.map((session) => async () => {
    const result = await session.invoke("echo", args)
    if (result.type !== "tool.result") throw new Error(`echo answered ${result.type}`)
  })
  // warm-up, then the measured run: every connection runs `inFlight` loops
  await Promise.all(all.map((one) => loops(4, Math.min(1, load.seconds / 4), one)))
  const runs = await Promise.all(all.map((one) => loops(load.inFlight ?? 1, load.seconds, one)))
  await Promise.all(sessions.map((session) => session.close()))
  return {
    latencies: runs.flatMap((run) => run.latencies),
    elapsedMs: Math.max(...runs.map((run) => run.elapsedMs))
  }
}

const handshake = async () => {
  const once = async () => {
    const session = await Session.open(load.url, load.token)
    await session.close()
  }
  await loops(1, Math.min(1, load.seconds / 4), once)
  return loops(1, load.seconds, once)
}

/** One job of `tool` at a time on one session, counting the events of type `counted` it sends. */
const eventsOf = (tool: string, args: Record<string, unknown>, counted: string) => async () => {
  let events = 0
  const session = await Session.open(load.url, load.token, (envelope) => {
    if (envelope.type === counted) events++
  })
  const once = async () => {
    const result = await session.invoke(tool, args)
    if (result.type !== "tool.result") throw new Error(`${tool} answered ${result.type}`)
  }
  await once() // warm-up
  events = 0
  const run = await loops(1, load.seconds, once)
  await session.close()
  return { ...run, events }
}

const ticker = eventsOf("ticker", { count: load.count ?? 1000 }, "job.progress")
const stream = eventsOf("stream", { chunks: load.count ?? 1000 }, "stream.chunk")

/** Opens the sessions in batches of 50, reports, then holds them until the parent closes stdin. */
const idle = async () => {
  const sessions: Array<Session> = []
  const total = load.sessions ?? 1000
  while (sessions.length < total) {
    const batch = Math.min(50, total - sessions.length)
    sessions.push(...await Promise.all(Array.from({ length: batch }, () => Session.open(load.url, load.token))))
  }
  console.log(JSON.stringify({ opened: sessions.length }))
  await new Promise<void>((resolve) => {
    process.stdin.on("end", () => resolve())
    process.stdin.resume()
  })
  await Promise.all(sessions.map((session) => session.close()))
  return { latencies: [], elapsedMs: 0 }
}

const run = { echo, handshake, ticker, stream, idle }[load.kind]
run().then(
  (result) => {
    // exit once the line is flushed: stdout to a pipe is written asynchronously, and a long line was cut short
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0))
  },
  (error: unknown) => {
    console.error(`loadgen ${load.kind} against ${load.url}: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
