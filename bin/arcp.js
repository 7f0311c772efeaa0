#!/usr/bin/env node
// The `arcp` command: runs the TypeScript sources through tsx's loader.
import { register } from "tsx/esm/api"

// A reader that stops early (`arcp validate big.jsonl | head`) is not an error.
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0)
  throw e
})

register()
await import("../src/cli/main.ts")
