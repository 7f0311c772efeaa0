/** The core suite (with the in-process session suite) over real HTTP/2 (cleartext h2c) on 127.0.0.1, port 0. */
import { describe } from "@effect/vitest"
import * as Http2 from "../../../src/transport/Http2.js"
import { coreServer, type SuiteOptions } from "../../support/CoreServer.js"
import { coreSuite } from "./CoreSuite.js"

const server = (options: SuiteOptions = {}) =>
  coreServer(Http2.layer({ port: 0, maxFrameBytes: options.maxFrameBytes }), options)

describe("R4.1-3 R22-3 runtime core over HTTP/2 (h2c)", () => {
  coreSuite({ server, inProcess: server })
})
