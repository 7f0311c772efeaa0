/** The package version (kept equal to package.json's by a test): what the runtime and the client report of themselves. */
export const VERSION = "0.1.0"
