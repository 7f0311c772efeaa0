/**
 * The package version (kept equal to package.json's by a test): what the runtime and the client report of
 * themselves. No imports here: `arcp version` loads this module alone, to answer at once.
 */
export const VERSION = "0.1.0"

/** The ARCP protocol version spoken (the envelope's `arcp` field). */
export const ARCP_VERSION = "1.0"

/** What `arcp version` prints. */
export const versionLine = (): string => `arcp ${VERSION} (ARCP protocol ${ARCP_VERSION})`
