/** The core suite (with the in-process session suite) over a real Unix domain socket in the temp directory. */
import { describe } from "@effect/vitest"
import * as UnixSocket from "../../../src/transport/UnixSocket.js"
import { coreServer, type SuiteOptions } from "../../support/CoreServer.js"
import { socketPath } from "../../support/Sockets.js"
import { coreSuite } from "./CoreSuite.js"

const server = (options: SuiteOptions = {}) =>
  coreServer(UnixSocket.layer({ path: socketPath(), maxFrameBytes: options.maxFrameBytes }), options)

describe("R4.1-5 runtime core over a Unix socket", () => {
  coreSuite({ server, inProcess: server })
})
