/**
 * Handshake and authentication (RFC §8): a runtime that accepts bearer tokens and HS256 JWTs, and
 * insists on the `jwt_nonce` challenge — a JWT alone could be replayed, a JWT carrying the runtime's
 * fresh nonce proves the client holds the key. Three clients: a bearer token, a JWT signer that
 * answers the challenge, and a wrong token refused UNAUTHENTICATED.
 *
 * Run it: node --import tsx examples/01-handshake-auth.ts
 */
import { ArcpClient, Credentials, Server, Transport } from "arcp"
import { Console, Effect, Logger, LogLevel } from "effect"

const jwtSecret = "an HMAC secret of at least 32 bytes, shared with the client"

const Runtime = Server.layer({
  auth: { bearer: new Map([["s3cret", "alice"]]), jwtSecret, jwtRequireNonce: true },
  transport: { kind: "ws", port: 0 },
  db: ":memory:",
  tools: []
})

const program = Effect.gen(function*() {
  const { address } = yield* Transport.Acceptor

  // 1. a bearer token: session.open carries it, session.accepted answers
  const alice = yield* ArcpClient.connect(address, { credentials: { scheme: "bearer", token: "s3cret" } })
  yield* Console.log(
    `bearer: session ${alice.id} on ${alice.runtime.kind}, heartbeat every ${alice.capabilities.heartbeat_interval_seconds} s`
  )

  // 2. a signed JWT: the runtime answers session.open with session.challenge {type: "jwt_nonce"}, and the
  //    client signs a fresh JWT carrying that nonce (the bundled client does it; we log it to show it)
  const sign = Credentials.jwtSigner({ subject: "bob", secret: jwtSecret })
  const bob = yield* ArcpClient.connect(address, {
    credentials: {
      scheme: "signed_jwt",
      signer: (claims) =>
        Effect.zipRight(
          Console.log(
            `challenge jwt_nonce for ${claims.audience}: signing nonce ${
              claims.nonce === undefined ? "none" : "received"
            }`
          ),
          sign(claims)
        )
    }
  })
  yield* Console.log(`jwt: session ${bob.id} accepted after the nonce challenge`)

  // 3. a wrong token: session.rejected, a typed ArcpError
  const refused = yield* Effect.flip(ArcpClient.connect(address, { credentials: { scheme: "bearer", token: "guess" } }))
  yield* Console.log(`wrong token: ${"code" in refused ? refused.code : refused._tag}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Runtime), Logger.withMinimumLogLevel(LogLevel.Warning)))
