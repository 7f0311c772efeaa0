/** Throwaway directories under the OS temp folder, each removed when the test that made it is done with it. */
import { Effect, type Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A directory and the call that removes it, for when neither a scope nor a callback spans its life. */
export interface TempDir {
  readonly dir: string
  readonly remove: () => void
}

/** A fresh `<tmp>/<prefix>XXXXXX`, removed by hand: for beforeAll/afterAll, process exit, or a returned close. */
export const makeTempDir = (prefix: string): TempDir => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A fresh directory removed when the scope closes, so an Effect test leaves none behind however it ends. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.sync(() => makeTempDir(prefix)), (made) => Effect.sync(made.remove)),
    (made) => made.dir
  )

/** Runs `body` in a fresh directory and removes it after, however `body` ends. */
export const withTempDir = async <A>(prefix: string, body: (dir: string) => Promise<A>): Promise<A> => {
  const { dir, remove } = makeTempDir(prefix)
  try {
    return await body(dir)
  } finally {
    remove()
  }
}
