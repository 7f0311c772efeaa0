/** The core suite (with the in-process session suite) over a real WebSocket server on 127.0.0.1 (port 0). */
import { describe } from "@effect/vitest"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { coreServer, type SuiteOptions } from "../../support/CoreServer.js"
import { coreSuite } from "./CoreSuite.js"

const server = (options: SuiteOptions = {}) =>
  coreServer(WebSocket.layer({ port: 0, maxFrameBytes: options.maxFrameBytes }), options)

describe("R4.1-2 runtime core over WebSocket", () => {
  coreSuite({ server, inProcess: server })
})
