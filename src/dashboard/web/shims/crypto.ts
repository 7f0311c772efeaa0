/** The one node:crypto function the protocol's id generators use, on the browser's Web Crypto API. */
export const randomFillSync = <T extends Uint8Array>(bytes: T): T => {
  globalThis.crypto.getRandomValues(bytes)
  return bytes
}
