/** Observer grants (§13.1): who may observe whose sessions, from `--observer` entries and the `arcp_observe` JWT claim. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as jose from "jose"
import * as Auth from "../../../src/runtime/auth/Auth.js"
import {
  canObserve,
  isObserver,
  type ObserveGrant,
  parseClaim,
  parseFlag
} from "../../../src/runtime/events/Observation.js"

const SECRET = "0123456789abcdef0123456789abcdef"
const NOW = 1_800_000_000

const jwt = (claims: Record<string, unknown>) =>
  Effect.promise(() =>
    new jose.SignJWT({ aud: "arcp://runtime", iat: NOW, exp: NOW + 300, ...claims })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(SECRET))
  )

const principalOf = (options: Partial<Auth.Options>, offer: Auth.Offer) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(NOW * 1000)
    const auth = yield* Auth.Authenticator
    const step = yield* auth.begin(offer)
    return step._tag === "Accept" ? step.principal : undefined
  }).pipe(Effect.provide(Auth.layer({ audience: "arcp://runtime", ...options })))

describe("observer grants", () => {
  it("R13.1-1 a principal observes its own sessions; a grant adds all, or the listed owners", () => {
    assert.isTrue(canObserve({ principal: "alice" }, "alice"))
    assert.isFalse(canObserve({ principal: "alice" }, "bob"))
    assert.isTrue(canObserve({ principal: "auditor", observes: "*" }, "bob"))
    assert.isTrue(canObserve({ principal: "w", observes: ["bob"] }, "bob"))
    assert.isFalse(canObserve({ principal: "w", observes: ["bob"] }, "alice"))
    assert.isFalse(isObserver({ principal: "alice" }))
    assert.isTrue(isObserver({ principal: "w", observes: ["bob"] }))
  })

  it("R13.1-1 --observer PRINCIPAL[=OWNER,OWNER] entries", () => {
    assert.deepStrictEqual(parseFlag("auditor"), ["auditor", "*"])
    assert.deepStrictEqual(parseFlag("ops=alice, bob"), ["ops", ["alice", "bob"]])
    assert.deepStrictEqual(parseFlag("ops=*"), ["ops", "*"])
    assert.isString(parseFlag("=alice"))
    assert.isString(parseFlag("ops="))
  })

  it("R13.1-1 the arcp_observe claim is \"*\" or a list of principals; anything else grants nothing", () => {
    assert.strictEqual(parseClaim("*"), "*")
    assert.deepStrictEqual(parseClaim(["bob"]), ["bob"])
    assert.isUndefined(parseClaim(true))
    assert.isUndefined(parseClaim(["bob", 3]))
    assert.isUndefined(parseClaim("bob"))
  })

  it.effect("R13.1-1 bearer principals get the operator's grant; a JWT's arcp_observe claim wins over it", () =>
    Effect.gen(function*() {
      const observers = new Map<string, ObserveGrant>([["auditor", "*"], ["agent-1", ["carol"]]])
      const bearer = yield* principalOf({ bearer: new Map([["t", "auditor"]]), observers }, {
        scheme: "bearer",
        token: "t",
        anonymousNegotiated: false
      })
      assert.strictEqual(bearer?.observes, "*")
      const claimed = yield* principalOf({ jwt: { secret: SECRET }, observers }, {
        scheme: "signed_jwt",
        token: yield* jwt({ sub: "agent-1", arcp_observe: ["bob"] }),
        anonymousNegotiated: false
      })
      assert.deepStrictEqual(claimed?.observes, ["bob"])
      const configured = yield* principalOf({ jwt: { secret: SECRET }, observers }, {
        scheme: "signed_jwt",
        token: yield* jwt({ sub: "agent-1" }),
        anonymousNegotiated: false
      })
      assert.deepStrictEqual(configured?.observes, ["carol"])
      const plain = yield* principalOf({ jwt: { secret: SECRET } }, {
        scheme: "signed_jwt",
        token: yield* jwt({ sub: "agent-2" }),
        anonymousNegotiated: false
      })
      assert.isUndefined(plain?.observes)
    }))
})
