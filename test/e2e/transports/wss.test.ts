/**
 * The core suite (with the in-process session suite) over a real `wss://` server on 127.0.0.1
 * (port 0), its certificate issued by a throwaway CA the client trusts. Needs the openssl binary.
 */
import { describe } from "@effect/vitest"
import * as WebSocket from "../../../src/transport/WebSocket.js"
import { coreServer, type SuiteOptions } from "../../support/CoreServer.js"
import { hasOpenssl, makePki } from "../../support/Pki.js"
import { coreSuite } from "./CoreSuite.js"

const pki = hasOpenssl ? makePki() : undefined

const server = (options: SuiteOptions = {}) =>
  coreServer(
    WebSocket.layer({
      port: 0,
      maxFrameBytes: options.maxFrameBytes,
      tls: pki === undefined ? undefined : { cert: pki.server.cert, key: pki.server.key }
    }),
    options,
    { ca: pki?.ca.cert }
  )

// skipped, with this reason, where no openssl binary can mint the certificates
describe.runIf(hasOpenssl)("R4.1-2 runtime core over WebSocket with TLS (wss://, needs openssl)", () => {
  coreSuite({ server, inProcess: server })
})
