// A pretend refund tool that asks permission before it acts (RFC §15.4), and a Promise client that
// approves. Run it with `node examples/08-permissions-leases.mjs` (the built package) or `node --import tsx examples/08-permissions-leases.mjs` (the sources).
import { AnyArguments, connect, createServer, tool } from "arcp/promise"

const refund = tool({
  name: "refund",
  parameters: AnyArguments,
  handler: async ({ order, amount }, ctx) => {
    // blocks the job on a permission.request until the client grants or denies (PERMISSION_DENIED)
    const lease = await ctx.requestPermission({
      permission: "payment.refund.create",
      resource: `order:${order}`,
      operation: "refund",
      reason: `Refund ${amount} EUR to the customer`,
      requestedLeaseSeconds: 300
    })
    // right before the (pretend) payment call: rejects PERMISSION_DENIED if the lease expired or was revoked
    await ctx.checkLease(lease.lease_id)
    return { order, refunded: amount }
  }
})

const server = await createServer({
  port: 0,
  logLevel: "warning",
  auth: { bearer: new Map([["secret", "alice"]]) },
  tools: [refund]
})
const session = await connect(server.address, { credentials: { scheme: "bearer", token: "secret" } })
const job = await session.invoke("refund", { order: "ord_4812", amount: 25 })
for await (const event of job.events) {
  console.log(`event ${event.type}`)
  if (event.type === "permission.request") {
    console.log(`asked: ${event.payload.permission} on ${event.payload.resource} (${event.payload.reason})`)
    const lease = await session.grant(event)
    console.log(`granted ${lease.permission} on ${lease.resource} until ${lease.expires_at}`)
  }
}
console.log(`result ${JSON.stringify(await job.result)}`)
await session.close()
await server.close()
