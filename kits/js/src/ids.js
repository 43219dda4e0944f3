// Validators for Falcon identifiers, run before any request so a malformed id is an
// invalid-arguments error naming the value, never a confusing upstream 400. Each returns the
// normalised value (trimmed, hex lower-cased).

import { InvalidArguments } from './errors.js';

/** A 32-hex-digit id (AID, CID, host group id). @param {string} value @param {string} what */
export function hex32(value, what) {
  const v = String(value).trim();
  if (/^[0-9a-fA-F]{32}$/.test(v)) return v.toLowerCase();
  throw new InvalidArguments(`\`${value}\` is not a valid ${what}: expected 32 hexadecimal characters`);
}

/** A host (device) id. @param {string} value */
export function aid(value) {
  return hex32(value, 'host id (AID)');
}

/** Whether `value` looks like an agent id (so a "hostname or id" argument can be told apart). */
export function isAid(value) {
  return /^[0-9a-fA-F]{32}$/.test(String(value).trim());
}

/**
 * Validate a list with `f`: at least one, at most `max`, duplicates removed, order kept.
 * @param {string[]} values @param {number} max @param {string} what @param {(v: string) => string} f
 */
export function list(values, max, what, f) {
  if (!values.length) throw new InvalidArguments(`give at least one ${what}`);
  if (values.length > max) throw new InvalidArguments(`at most ${max} ${what}s per call (got ${values.length})`);
  return [...new Set(values.map(f))];
}
