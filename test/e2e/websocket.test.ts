/** The core suite over a real WebSocket server on 127.0.0.1 (port 0). */
import { describe } from "@effect/vitest"
import * as WebSocket from "../../src/transport/WebSocket.js"
import { coreServer, coreSuite } from "./CoreSuite.js"

describe("R4.1-2 runtime core over WebSocket", () => {
  coreSuite((options) => coreServer(WebSocket.layer({ port: 0, maxFrameBytes: options?.runtime?.maxFrameBytes }), options))
})
