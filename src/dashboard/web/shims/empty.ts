/** Stands in for fast-check in the browser bundle: effect/Schema only uses it to build test arbitraries. */
export {}
