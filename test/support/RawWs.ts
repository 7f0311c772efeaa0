/**
 * A hand-driven WebSocket client for black-box resume tests: sends envelopes,
 * keeps every message it receives, waits for one matching a predicate (no
 * sleeps), and can drop its socket abruptly (`terminate`, no close frame).
 */
import { Effect } from "effect"
import { createServer } from "node:net"
import WebSocket from "ws"
import { make as makeEnvelope } from "../../src/protocol/Envelope.js"

export interface Received {
  readonly id: string
  readonly type: string
  readonly session_id?: string
  readonly job_id?: string
  readonly correlation_id?: string
  readonly causation_id?: string
  readonly stream_id?: string
  readonly payload: Record<string, unknown>
}

export class RawWs {
  readonly received: Array<Received> = []
  private waiters: Array<() => void> = []
  private constructor(private readonly ws: WebSocket, readonly closed: Promise<void>) {
    ws.on("message", (data: Buffer) => {
      this.received.push(JSON.parse(data.toString()))
      const waiting = this.waiters
      this.waiters = []
      for (const wake of waiting) wake()
    })
  }

  static open(url: string): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      const closed = new Promise<void>((done) => ws.once("close", () => done()))
      ws.once("open", () => resolve(new RawWs(ws, closed)))
      ws.once("error", reject)
    })
  }

  /** Sends an envelope; returns its id. */
  send(type: string, payload: unknown, header: Record<string, unknown> = {}): string {
    const envelope = Effect.runSync(makeEnvelope(type, payload, header))
    this.ws.send(JSON.stringify(envelope))
    return envelope.id
  }

  /** The first message (from `from` on) passing `match`, once it has arrived. */
  async next(match: (m: Received) => boolean, from = 0): Promise<Received> {
    let at = from
    while (true) {
      for (; at < this.received.length; at++) {
        const m = this.received[at]
        if (m !== undefined && match(m)) return m
      }
      await new Promise<void>((wake) => this.waiters.push(wake))
    }
  }

  /** Opens (or takes back, with `sessionId`) a session with a bearer token; the accepted or rejected answer. */
  async handshake(token: string, sessionId?: string): Promise<Received> {
    const id = this.send("session.open", {
      auth: { scheme: "bearer", token },
      client: { kind: "raw", version: "1" },
      capabilities: {}
    }, sessionId === undefined ? {} : { session_id: sessionId })
    return this.next((m) => m.correlation_id === id)
  }

  /** Drops the socket without a close handshake, as a network failure would. */
  terminate(): void {
    this.ws.terminate()
  }

  close(): void {
    this.ws.close()
  }
}

/** A TCP port free right now on 127.0.0.1 (a restarted server must come back on the same one). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
    server.once("error", reject)
  })
