/**
 * JSON nesting depth, measured on the text before anything parses it: a frame
 * nesting thousands of arrays is cheap to send and makes recursive code
 * (schema errors, formatting, JSON.stringify) overflow the stack. One linear
 * scan, no recursion, no allocation.
 */

/** The nesting limit when none is configured: ample for any real message (the envelope itself is level 1). */
export const DEFAULT_MAX_JSON_DEPTH = 64

const QUOTE = 34 // "
const BACKSLASH = 92 // \
const OPEN_BRACKET = 91 // [
const CLOSE_BRACKET = 93 // ]
const OPEN_BRACE = 123 // {
const CLOSE_BRACE = 125 // }

/** The index of the quote closing the string whose opening quote is at `open`, or -1 when it is not closed. */
const closingQuote = (text: string, open: number): number => {
  // a native search for the next quote; one preceded by an odd run of backslashes is escaped
  for (let at = text.indexOf("\"", open + 1); at !== -1; at = text.indexOf("\"", at + 1)) {
    let backslashes = 0
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return at
  }
  return -1
}

/**
 * True when `text` nests arrays and objects deeper than `limit` levels
 * (brackets inside strings do not count). Malformed text is measured as far
 * as it goes; the parser reports what else is wrong with it. Strings are
 * skipped with a native search, so the cost is mostly that of the structure.
 */
export const exceedsDepth = (text: string, limit: number): boolean => {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      i = closingQuote(text, i)
      if (i === -1) return false
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > limit) return true
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--
    }
  }
  return false
}
