// An FQL builder that quotes and escapes values, so a value taken from the model (a hostname
// with a quote in it) can never change the shape of the filter.
//
// FQL: field:'value' (strings single-quoted), field:>=60 (numbers bare), field:['a','b'] (any
// of), ! negates, ~ text match, + joins with AND, , with OR. Inside quotes, \ and ' are escaped.

/** Quote an FQL string value: wrap in '…', escaping \ and '. @param {string} value */
export function quote(value) {
  return `'${String(value).replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** @param {string|number|boolean} v */
function lit(v) {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`FQL number must be finite, got ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  return quote(v);
}

/** Field names come from plugin code, never from the model; reject anything else loudly. */
function field(name) {
  if (!/^[A-Za-z0-9_.#]+$/.test(name)) throw new TypeError(`bad FQL field name ${JSON.stringify(name)}`);
  return name;
}

/** An FQL filter under construction: terms joined with + (AND). */
export class Fql {
  constructor() {
    /** @type {string[]} */
    this.terms = [];
  }

  /** @private */
  push(name, op, value) {
    this.terms.push(`${field(name)}:${op}${lit(value)}`);
    return this;
  }

  /** field:'v' (bare for numbers and booleans) @param {string} f @param {string|number|boolean} v */
  eq(f, v) { return this.push(f, '', v); }
  /** field:!'v' */
  ne(f, v) { return this.push(f, '!', v); }
  /** field:>='v' */
  gte(f, v) { return this.push(f, '>=', v); }
  /** field:<='v' */
  lte(f, v) { return this.push(f, '<=', v); }
  /** field:>'v' */
  gt(f, v) { return this.push(f, '>', v); }
  /** field:<'v' */
  lt(f, v) { return this.push(f, '<', v); }
  /** field:~'v': case-insensitive text match */
  matches(f, v) { return this.push(f, '~', v); }

  /** field:['a','b']; nothing is added for an empty list. @param {string} f @param {Array<string|number>} values */
  anyOf(f, values) {
    if (values.length) this.terms.push(`${field(f)}:[${values.map(lit).join(',')}]`);
    return this;
  }

  /** (f1:'v',f2:'v'): the same value in any of several fields. @param {string[]} fields */
  eqAnyField(fields, v) {
    const alts = fields.map((f) => `${field(f)}:${lit(v)}`);
    if (alts.length === 1) this.terms.push(alts[0]);
    else if (alts.length > 1) this.terms.push(`(${alts.join(',')})`);
    return this;
  }

  /** (a,b,…): any of several sub-filters (OR); empty ones are skipped. @param {Fql[]} alternatives */
  or(alternatives) {
    const alts = alternatives
      .filter((f) => f.terms.length)
      .map((f) => (f.terms.length > 1 ? `(${f.build()})` : f.build()));
    if (alts.length === 1) this.terms.push(alts[0]);
    else if (alts.length > 1) this.terms.push(`(${alts.join(',')})`);
    return this;
  }

  /** Apply `f` when `v` is given (not undefined/null). @template V @param {V|undefined|null} v @param {(q: Fql, v: V) => Fql} f */
  opt(v, f) {
    return v === undefined || v === null ? this : f(this, v);
  }

  /** Free FQL from the caller, parenthesised so its , cannot swallow other terms; blank adds nothing. @param {string|undefined} fql */
  raw(fql) {
    const f = (fql ?? '').trim();
    if (f) this.terms.push(`(${f})`);
    return this;
  }

  /** The filter, or undefined when empty (so the `filter` parameter is left out). */
  build() {
    return this.terms.length ? this.terms.join('+') : undefined;
  }
}
