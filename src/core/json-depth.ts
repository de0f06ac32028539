/**
 * How deep JSON text nests, found by one linear scan of the text before anything parses it: JSON nested thousands
 * deep parses fine, and then overflows the stack of whatever walks it recursively (validation, copying), which
 * would answer 500 for what is the caller's mistake. Brackets inside strings do not count.
 */

/** The deepest allowed nesting of a request body: generous for events, silences and deploy markers. */
export const MAX_JSON_DEPTH = 64;

/** Whether `text` nests arrays and objects deeper than `max`; stops at the first bracket beyond it. */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) {
      depth--;
    }
  }
  return false;
}

export function tooDeepMessage(max: number): string {
  return `the JSON body nests deeper than ${max} levels (arrays and objects inside each other); flatten it`;
}
