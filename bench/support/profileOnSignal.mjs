// Preload (`node --import`) for bench/profiles: SIGUSR2 starts V8's sampling CPU profiler (100 µs), SIGINT stops
// it, writes the profile to `$ARCP_PROFILE_OUT.<pid>.cpuprofile` and exits. Plain Node, loaded by arcp's server and
// by the peer's processes alike, so both are profiled the same way.
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector"

const session = new Session()
session.connect()
let profiling = false
process.on("SIGUSR2", () => {
  session.post("Profiler.enable", () =>
    session.post("Profiler.setSamplingInterval", { interval: 100 }, () =>
      session.post("Profiler.start", () => {
        profiling = true
      })))
})
process.on("SIGINT", () => {
  if (!profiling) process.exit(0)
  session.post("Profiler.stop", (error, result) => {
    if (error === null && result !== undefined) {
      writeFileSync(`${process.env.ARCP_PROFILE_OUT}.${process.pid}.cpuprofile`, JSON.stringify(result.profile))
    }
    process.exit(0)
  })
})
