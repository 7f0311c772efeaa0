/**
 * Standard base64 (RFC 4648, padded) through Node's `Buffer`, which is native. Effect's `Encoding` builds
 * the text in JavaScript a character at a time: for a 512 KiB inline artifact that was ~100 ms of a
 * client's CPU, most of it garbage collection (issue 12). Decoding is as strict as `Encoding.decodeBase64`
 * (line breaks dropped, whole quads, `=` only as padding, nothing outside the alphabet), since Node's own
 * decoder skips what it does not know instead of refusing it.
 */
import { Either } from "effect"

const ALPHABET = /^[A-Za-z0-9+/]*={0,2}$/

/** The base64 text of `bytes`. */
export const encode = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/** The bytes `text` encodes, or why it is not base64. */
export const decode = (text: string): Either.Either<Uint8Array, string> => {
  const stripped = text.includes("\n") || text.includes("\r") ? text.replace(/[\n\r]/g, "") : text
  if (stripped.length % 4 !== 0) return Either.left(`length must be a multiple of 4, but is ${stripped.length}`)
  if (!ALPHABET.test(stripped)) {
    return Either.left("not base64: a character outside the alphabet, or '=' before the end")
  }
  const buffer = Buffer.from(stripped, "base64")
  return Either.right(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))
}
