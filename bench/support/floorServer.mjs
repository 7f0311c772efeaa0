// The floor of bench/sidebyside: a bare `ws` server that answers the load generator with canned envelopes
// (no log, no validation, no sessions, no jobs). What it reaches is what the load generator, `ws` and Node
// manage on this machine with no runtime at all: a row whose 2× the peer lies above it cannot be won by any
// server. Plain Node; prints its URL as `floor listening on ws://…`.
import { WebSocketServer } from "ws"

const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false })
let counter = 0
const envelope = (type, payload, header) =>
  JSON.stringify({
    arcp: "1.0",
    id: `msg_floor${(counter++).toString(36)}`,
    type,
    timestamp: new Date().toISOString(),
    ...header,
    payload
  })

server.on("connection", (socket) => {
  let session = ""
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString())
    const header = { session_id: session, correlation_id: message.id }
    switch (message.type) {
      case "session.open":
        session = `sess_floor${(counter++).toString(36)}`
        socket.send(envelope("session.accepted", {
          session_id: session,
          runtime: { name: "floor", version: "0" },
          capabilities: {}
        }, { ...header, session_id: session }))
        break
      case "tool.invoke": {
        const job = `job_floor${(counter++).toString(36)}`
        const { arguments: args, tool } = message.payload
        socket.send(envelope("job.accepted", { job_id: job }, { ...header, job_id: job }))
        if (tool === "ticker") {
          for (let i = 1; i <= (args?.count ?? 10); i++) {
            socket.send(envelope("job.progress", { current: i }, { session_id: session, job_id: job }))
          }
        }
        socket.send(envelope("tool.result", { job_id: job, value: args }, { ...header, job_id: job }))
        break
      }
      case "session.close":
        socket.send(envelope("ack", { ack_for: message.id }, header))
        socket.close()
    }
  })
})
server.on("listening", () => console.log(`floor listening on ws://127.0.0.1:${server.address().port}`))
