/** A supervisor that counts the fibers started under it (`Effect.supervised`): a count that does not move with the machine. */
import { Effect, Supervisor } from "effect"

export class ForkCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  get value() {
    return Effect.sync(() => this.started)
  }
  override onStart() {
    this.started += 1
  }
}
