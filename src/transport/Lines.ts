/**
 * Newline-delimited JSON framing, written once for every byte-stream
 * transport (stdio, Unix sockets / named pipes, HTTP/2 streams): one envelope
 * per line, `\n`-terminated (a trailing `\r` is tolerated), blank lines
 * ignored. Text frames only, so binary data travels base64 in the envelope
 * (§11.3, R22-3).
 */
import { Effect, Exit, Mailbox } from "effect"
import type { Readable, Writable } from "node:stream"
import { type Connection, DEFAULT_MAX_FRAME_BYTES, headOf, type Incoming, TransportError } from "./Transport.js"

export interface Options {
  readonly input: Readable
  readonly output: Writable
  readonly maxFrameBytes?: number | undefined
  readonly label: string
  /** Run when the connection is closed (default: end the output). */
  readonly close?: Effect.Effect<void> | undefined
}

const NEWLINE = 0x0a

/**
 * Splits a byte stream into lines without ever holding more than the limit:
 * past it, the rest of the line is counted and dropped, and one `TooLarge` is
 * reported when its newline arrives.
 */
export const makeLineSplitter = (maxFrameBytes: number, emit: (frame: Incoming) => void) => {
  let parts: Array<Buffer> = []
  let size = 0
  let oversize: { bytes: number; head: string } | undefined

  const endLine = () => {
    if (oversize !== undefined) {
      emit({ _tag: "TooLarge", bytes: oversize.bytes, head: oversize.head })
      oversize = undefined
    } else {
      const text = Buffer.concat(parts, size).toString("utf8").replace(/\r$/, "")
      if (text.trim().length > 0) emit({ _tag: "Text", text })
    }
    parts = []
    size = 0
  }
  const append = (chunk: Buffer) => {
    if (oversize !== undefined) {
      oversize.bytes += chunk.length
      return
    }
    parts.push(chunk)
    size += chunk.length
    if (size > maxFrameBytes) {
      oversize = { bytes: size, head: headOf(Buffer.concat(parts, size)) }
      parts = []
      size = 0
    }
  }
  return (chunk: Buffer) => {
    let start = 0
    let nl = chunk.indexOf(NEWLINE, start)
    while (nl !== -1) {
      append(chunk.subarray(start, nl))
      endLine()
      start = nl + 1
      nl = chunk.indexOf(NEWLINE, start)
    }
    if (start < chunk.length) append(chunk.subarray(start))
  }
}

/**
 * Writes one line. While the stream's buffer is below its high-water mark the
 * write completes at once (a failed write destroys the stream, so the next
 * one fails `Closed` and the input ends); above it, it waits for `drain`, or
 * for the write's failure.
 */
export const writeLine = (output: Writable, line: string, label: string): Effect.Effect<void, TransportError> =>
  Effect.suspend(() => {
    if (output.destroyed || output.writableEnded) {
      return Effect.fail(new TransportError({ reason: "Closed", message: `${label}: output is closed` }))
    }
    // listeners are in place before the write, so neither outcome can be missed
    let outcome: Effect.Effect<void, TransportError> | undefined
    let wake: ((outcome: Effect.Effect<void, TransportError>) => void) | undefined
    const settle = (result: Effect.Effect<void, TransportError>) => {
      if (outcome !== undefined) return
      outcome = result
      output.off("drain", onDrain)
      wake?.(result)
    }
    const onDrain = () => settle(Effect.void)
    output.once("drain", onDrain)
    const ok = output.write(line, (error) => {
      if (error) settle(Effect.fail(new TransportError({ reason: "Write", message: error.message, cause: error })))
    })
    if (ok) {
      output.off("drain", onDrain)
      return Effect.void
    }
    return Effect.async<void, TransportError>((resume) => {
      if (outcome !== undefined) return resume(outcome)
      wake = resume
    })
  })

/** A connection over a readable/writable pair; listeners are removed when the scope closes. */
export const make = Effect.fnUntraced(function*(options: Options) {
  const mailbox = yield* Mailbox.make<Incoming, TransportError>()
  const { input, label, output } = options
  const split = makeLineSplitter(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, (f) => {
    mailbox.unsafeOffer(f)
  })
  const onData = (chunk: Buffer | string) => split(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
  const onEnd = () => {
    mailbox.unsafeDone(Exit.void)
  }
  const onError = (error: Error) => {
    mailbox.unsafeDone(Exit.fail(new TransportError({ reason: "Read", message: error.message, cause: error })))
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      input.on("data", onData)
      input.once("end", onEnd)
      input.once("close", onEnd)
      input.once("error", onError)
    }),
    () =>
      Effect.sync(() => {
        input.off("data", onData)
        input.off("end", onEnd)
        input.off("close", onEnd)
        input.off("error", onError)
        // a flowing stdin keeps the process alive: stop reading so `arcp serve` can exit once the connection is over
        input.pause()
      })
  )
  return {
    label,
    binary: false,
    incoming: Mailbox.toStream(mailbox),
    // what a write left in the stream's buffer (up to its high-water mark, see writeLine): counted by the outbound budget
    buffered: () => output.writableLength,
    // a write past the stream's high-water mark waits for its drain (writeLine)
    sendWaits: true,
    send: (frame) =>
      typeof frame === "string"
        ? writeLine(output, `${frame}\n`, label)
        : Effect.fail(
          new TransportError({
            reason: "Unsupported",
            message: `${label} carries text frames only (binary goes base64 in the envelope)`
          })
        ),
    close: options.close ?? Effect.sync(() => {
      if (!output.writableEnded) output.end()
    })
  } satisfies Connection
})
