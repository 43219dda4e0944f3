// Declaring a plugin and its tools, and binding it to the WIT exports: `describe()` returns the
// descriptor, `call()` runs a handler with a context over the host's imports and maps whatever it
// throws to a `call-error` (never a trap).

import { Denied, Internal, InvalidArguments, NotFound, ToolError, toCallError } from './errors.js';
import { Falcon } from './falcon.js';
import { objectSchema, withDefaults } from './schema.js';

const NAME = /^[a-z0-9_]{1,64}$/;
const TOOL_KEYS = ['name', 'title', 'description', 'tier', 'destructive', 'idempotent', 'cacheable', 'operations', 'args'];

/**
 * @typedef {object} ToolDecl
 * @property {string} name `^[a-z0-9_]{1,64}$`, unique across all loaded plugins.
 * @property {string} title
 * @property {string} description What it does, for the model.
 * @property {'read'|'write'} [tier] Default read; write tools are hidden unless writes are allowed.
 * @property {boolean} [destructive]
 * @property {boolean} [idempotent] Default true for read tools.
 * @property {boolean} [cacheable]
 * @property {string[]} operations Falcon operation ids it may call: its grant, nothing else.
 * @property {Record<string, import('./schema.js').ArgSpec>} [args]
 */

/**
 * @typedef {object} Env The host's imports (the build binds them; tests pass fakes).
 * @property {{call: (req: any) => any}} falcon
 * @property {{log?: Function, progress?: Function, config?: Function, sleep?: Function, monotonicMs?: Function}} [host]
 * @property {{read?: Function, write?: Function, list?: Function, stat?: Function}} [files]
 */

/**
 * @typedef {object} Ctx What a handler gets besides its arguments.
 * @property {string} tool The tool being called.
 * @property {Falcon} falcon Falcon calls under the tool's grant.
 * @property {(level: 'trace'|'debug'|'info'|'warn'|'error', message: string) => void} log
 * @property {(done: number, total: number|undefined, message: string) => void} progress
 * @property {(key: string) => string|undefined} config Operator settings of this plugin.
 * @property {(ms: number) => void} sleep
 * @property {Files} files The operator's files directory (if granted).
 */

/**
 * @typedef {object} Files
 * @property {(name: string) => Uint8Array} read
 * @property {(name: string) => string} readText
 * @property {(name: string, contents: Uint8Array|string) => string} write Returns the SHA-256.
 * @property {() => Array<{name: string, size: number}>} list
 * @property {(name: string) => {name: string, size: number}} stat
 */

function fileError(e) {
  const { tag, val } = e?.payload ?? e ?? {};
  if (tag === 'denied') return new Denied(`files: ${val}`);
  if (tag === 'not-found') return new NotFound(`file ${val}`);
  if (tag === 'too-large') return new InvalidArguments(`the file is larger than the host's ${val}-byte cap`);
  return new Internal(`files: ${val ?? String(e)}`);
}

function info(f) {
  return { name: f.name, size: Number(f.size) };
}

/** @param {Env} env @returns {Files} */
function filesOf(env) {
  const f = env.files ?? {};
  const guard = (fn) => (...a) => {
    if (!fn) throw new Internal('the host offers no files interface');
    try {
      return fn(...a);
    } catch (e) {
      throw fileError(e);
    }
  };
  return {
    read: guard(f.read),
    readText: (name) => new TextDecoder().decode(guard(f.read)(name)),
    write: (name, contents) => guard(f.write)(name, typeof contents === 'string' ? new TextEncoder().encode(contents) : contents),
    list: () => guard(f.list ?? f['%list'])().map(info),
    stat: (name) => info(guard(f.stat)(name)),
  };
}

/** @param {string} tool @param {Env} env @returns {Ctx} */
function context(tool, env) {
  const h = env.host ?? {};
  return {
    tool,
    falcon: new Falcon(env.falcon.call),
    log: (level, message) => h.log?.(level, String(message)),
    progress: (done, total, message) =>
      h.progress?.(BigInt(Math.max(0, Math.trunc(done))), total === undefined ? undefined : BigInt(Math.trunc(total)), String(message)),
    config: (key) => h.config?.(key) ?? undefined,
    sleep: (ms) => h.sleep?.(Math.max(0, Math.trunc(ms))),
    files: filesOf(env),
  };
}

export class Plugin {
  /** @param {{name: string, version?: string, description: string}} meta */
  constructor(meta) {
    if (!NAME.test(meta.name ?? '')) throw new TypeError(`plugin name \`${meta.name}\` must match ${NAME}`);
    this.meta = { version: '0.1.0', ...meta };
    /** @type {Map<string, {decl: ToolDecl, schema: object, handler: Function}>} */
    this.tools = new Map();
  }

  /**
   * Add a tool; `handler(args, ctx)` returns an Output (or a string) or throws a ToolError.
   * @param {ToolDecl} decl @param {(args: any, ctx: Ctx) => any} handler
   */
  tool(decl, handler) {
    const unknown = Object.keys(decl).filter((k) => !TOOL_KEYS.includes(k));
    if (unknown.length) throw new TypeError(`tool ${decl.name}: unknown field ${unknown.join(', ')} (known: ${TOOL_KEYS.join(', ')})`);
    if (!NAME.test(decl.name ?? '')) throw new TypeError(`tool name \`${decl.name}\` must match ${NAME}`);
    if (this.tools.has(decl.name)) throw new TypeError(`tool ${decl.name} is declared twice`);
    if (!decl.title || !decl.description) throw new TypeError(`tool ${decl.name}: give a title and a description`);
    if (!Array.isArray(decl.operations)) throw new TypeError(`tool ${decl.name}: list the Falcon operations it calls`);
    if (typeof handler !== 'function') throw new TypeError(`tool ${decl.name}: give a handler function`);
    this.tools.set(decl.name, { decl, schema: objectSchema(decl.args ?? {}), handler });
    return this;
  }

  /** The WIT descriptor. */
  describe() {
    return {
      name: this.meta.name,
      version: this.meta.version,
      description: this.meta.description,
      resources: [],
      tools: [...this.tools.values()].map(({ decl, schema }) => {
        const tier = decl.tier ?? 'read';
        return {
          name: decl.name,
          title: decl.title,
          description: decl.description,
          inputSchema: JSON.stringify(schema),
          tier,
          destructive: Boolean(decl.destructive),
          idempotent: decl.idempotent ?? tier === 'read',
          cacheable: Boolean(decl.cacheable),
          operations: [...decl.operations],
          needs: [],
        };
      }),
    };
  }

  /**
   * Run a tool: the Output, or a thrown ToolError (any other exception becomes Internal).
   * @param {string} tool @param {string|object} args JSON text or an object @param {Env} env
   */
  run(tool, args, env) {
    const t = this.tools.get(tool);
    if (!t) throw new Internal(`plugin ${this.meta.name} has no tool \`${tool}\``);
    /** @type {any} */
    let given = args;
    if (typeof args === 'string') {
      try {
        given = JSON.parse(args || '{}');
      } catch (e) {
        throw new InvalidArguments(`the arguments are not JSON: ${e.message}`);
      }
    }
    let out;
    try {
      out = t.handler(withDefaults(t.decl.args ?? {}, given ?? {}), context(tool, env));
    } catch (e) {
      throw e instanceof ToolError ? e : new Internal(toCallError(e).val);
    }
    if (typeof out === 'string') return { text: out, structured: undefined, content: [] };
    if (!out || typeof out.text !== 'string') {
      throw new Internal(`tool ${tool} returned ${JSON.stringify(out)}; return Output.text(...) or Output.json(...)`);
    }
    return { text: out.text, structured: out.structured, content: out.content ?? [] };
  }

  /**
   * The WIT `tools` export over `env`. componentize-js reports a `result` error from a thrown
   * value's `payload`.
   * @param {Env} env
   */
  exports(env) {
    return {
      describe: () => this.describe(),
      call: (tool, args) => {
        try {
          return this.run(tool, args, env);
        } catch (e) {
          throw Object.assign(new Error('tool error'), { payload: toCallError(e) });
        }
      },
    };
  }
}

/** Declare a plugin. @param {{name: string, version?: string, description: string}} meta */
export function plugin(meta) {
  return new Plugin(meta);
}
