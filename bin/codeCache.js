// Runs the bundled CLI (a CommonJS file) with V8's code cache kept beside it, FILE.cache: compiling the 2 MB
// bundle and the functions its start-up runs is a third of `arcp serve`'s start (issue 12). `npm run build`
// writes the cache by starting a server once; a run that finds it missing or made by another Node writes a new
// one when it exits, where it may. Node 22's `module.enableCompileCache` does this for every module; Node 20
// has only `vm.Script`'s `cachedData`, and a script compiled from it cannot `import()` (no loader is restored
// with the cache): the bundle has none (scripts/bundle-cli.ts turns them into `require()`s).
import { accessSync, constants, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import Module, { createRequire } from "node:module"
import { dirname } from "node:path"
import vm from "node:vm"

export const runWithCodeCache = (file) => {
  const require = createRequire(file)
  const cacheFile = `${file}.cache`
  let cachedData
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    // none yet
  }
  const script = new vm.Script(Module.wrap(readFileSync(file, "utf8")), { filename: file, cachedData })
  const stale = cachedData === undefined || script.cachedDataRejected === true
  if ((stale || process.env.ARCP_WRITE_CODE_CACHE === "1") && writable(dirname(file))) {
    // at exit, so the cache holds what this run compiled; written aside and renamed, for runs side by side
    process.once("exit", () => {
      const aside = `${cacheFile}.${process.pid}`
      try {
        writeFileSync(aside, script.createCachedData())
        renameSync(aside, cacheFile)
      } catch {
        // a cache is an optimisation: without one the next run compiles again (and no half-written file stays)
        rmSync(aside, { force: true })
      }
    })
  }
  const module = { exports: {}, filename: file, id: file, loaded: false }
  script.runInThisContext().call(module.exports, module.exports, require, module, file, dirname(file))
}

const writable = (dir) => {
  try {
    accessSync(dir, constants.W_OK)
    return true
  } catch {
    return false
  }
}
