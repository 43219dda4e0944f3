// Argument declarations, compiled to the JSON Schema the host validates arguments against
// before the plugin runs (additionalProperties: false, so a misspelt argument is refused).

/**
 * @typedef {object} ArgSpec
 * @property {object} schema JSON Schema of the value.
 * @property {boolean} required
 * @property {unknown} [default] Filled in when the argument is not given.
 */

/**
 * @typedef {object} Common
 * @property {string} [description] What to give, for the model.
 * @property {boolean} [required] The call is refused without it.
 * @property {unknown} [default] Used when not given (also shown in the schema).
 */

const COMMON = ['description', 'required', 'default'];

function spec(kind, opts, allowed, schema) {
  for (const k of Object.keys(opts)) {
    if (!COMMON.includes(k) && !allowed.includes(k)) {
      throw new TypeError(`arg.${kind}: unknown option \`${k}\` (known: ${[...COMMON, ...allowed].join(', ')})`);
    }
  }
  if (opts.required && opts.default !== undefined) {
    throw new TypeError(`arg.${kind}: an argument with a default cannot be required`);
  }
  const s = { ...schema };
  if (opts.description) s.description = opts.description;
  if (opts.default !== undefined) s.default = opts.default;
  return { schema: s, required: Boolean(opts.required), default: opts.default };
}

export const arg = {
  /** @param {Common & {pattern?: string, minLength?: number, maxLength?: number}} [o] @returns {ArgSpec} */
  string(o = {}) {
    const s = { type: 'string' };
    if (o.pattern !== undefined) s.pattern = o.pattern;
    if (o.minLength !== undefined) s.minLength = o.minLength;
    if (o.maxLength !== undefined) s.maxLength = o.maxLength;
    return spec('string', o, ['pattern', 'minLength', 'maxLength'], s);
  },

  /** @param {Common & {min?: number, max?: number}} [o] @returns {ArgSpec} */
  int(o = {}) {
    const s = { type: 'integer' };
    if (o.min !== undefined) s.minimum = o.min;
    if (o.max !== undefined) s.maximum = o.max;
    return spec('int', o, ['min', 'max'], s);
  },

  /** @param {Common} [o] @returns {ArgSpec} */
  bool(o = {}) {
    return spec('bool', o, [], { type: 'boolean' });
  },

  /** One of fixed strings. @param {string[]} values @param {Common} [o] @returns {ArgSpec} */
  enum(values, o = {}) {
    if (!values.length) throw new TypeError('arg.enum: give at least one value');
    return spec('enum', o, [], { type: 'string', enum: [...values] });
  },

  /** A list of `item`. @param {ArgSpec} item @param {Common & {min?: number, max?: number}} [o] @returns {ArgSpec} */
  list(item, o = {}) {
    const s = { type: 'array', items: item.schema };
    if (o.min !== undefined) s.minItems = o.min;
    if (o.max !== undefined) s.maxItems = o.max;
    return spec('list', o, ['min', 'max'], s);
  },
};

const ARG_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The object schema of a tool's arguments.
 * @param {Record<string, ArgSpec>} args
 */
export function objectSchema(args) {
  const properties = {};
  const required = [];
  for (const [name, a] of Object.entries(args)) {
    if (!ARG_NAME.test(name)) throw new TypeError(`argument name \`${name}\` must match ${ARG_NAME}`);
    if (!a || typeof a.schema !== 'object') throw new TypeError(`argument \`${name}\`: declare it with arg.string(), arg.int(), ...`);
    properties[name] = a.schema;
    if (a.required) required.push(name);
  }
  const schema = { type: 'object', properties, additionalProperties: false };
  if (required.length) schema.required = required;
  return schema;
}

/**
 * The arguments with defaults filled in.
 * @param {Record<string, ArgSpec>} args @param {Record<string, unknown>} given
 */
export function withDefaults(args, given) {
  const out = { ...given };
  for (const [name, a] of Object.entries(args)) {
    if (out[name] === undefined && a.default !== undefined) out[name] = structuredClone(a.default);
  }
  return out;
}
