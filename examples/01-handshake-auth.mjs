// Handshake and authentication (RFC §8), the Promise flavour: a runtime that accepts bearer tokens and
// HS256 JWTs and insists on the `jwt_nonce` challenge (the client proves it holds the key by signing the
// runtime's fresh nonce); a bearer client, a JWT client, and a wrong token refused UNAUTHENTICATED.
//
// Run it: node examples/01-handshake-auth.mjs   (the built package; `node --import tsx ...` for the sources)
import { connect, createServer, jwtSigner } from "arcp/promise"

const jwtSecret = "an HMAC secret of at least 32 bytes, shared with the client"
const server = await createServer({
  port: 0,
  logLevel: "warning",
  auth: { bearer: new Map([["s3cret", "alice"]]), jwtSecret, jwtRequireNonce: true }
})

// 1. a bearer token
const alice = await connect(server.address, { credentials: { scheme: "bearer", token: "s3cret" } })
console.log(`bearer: session ${alice.id} on ${alice.runtime.kind}`)

// 2. a JWT signer: session.open → session.challenge {type: "jwt_nonce"} → session.authenticate with a
//    fresh JWT carrying the nonce → session.accepted (the client answers the challenge itself)
const bob = await connect(server.address, {
  credentials: { scheme: "signed_jwt", signer: jwtSigner({ subject: "bob", secret: jwtSecret }) }
})
console.log(`jwt: session ${bob.id} accepted after the nonce challenge`)

// 3. a wrong token: connect rejects with the runtime's ArcpError
await connect(server.address, { credentials: { scheme: "bearer", token: "guess" } }).catch((error) =>
  console.log(`wrong token: ${error.code}`)
)

await alice.close()
await bob.close()
await server.close()
