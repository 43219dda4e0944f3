#!/usr/bin/env node
// Build an aerie tool group written in JavaScript into a WebAssembly component.
//
//   node build.mjs app.js -o app.wasm [--wit DIR] [--world tool-group]
//
// The app's default export is a Plugin (see index.js). StarlingMonkey resolves relative imports
// only, so the app's directory and the kit are staged together, `from 'aerie-plugin'` is
// rewritten to the staged kit, and an entry module binds the plugin to the host's imports. WASI
// http and the fetch event are disabled: the aerie host links no wasi:http.

import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const KIT = dirname(fileURLToPath(import.meta.url));
const INSTALL =
  'npm install --no-audit --no-fund @bytecodealliance/componentize-js@0.23.0 (in the project), ' +
  'or set AERIE_JS_TOOLCHAIN to a directory whose node_modules holds it';

/**
 * Where componentize-js is: $AERIE_JS_TOOLCHAIN, node_modules above the app, above the kit, then
 * the checkout's target/js-toolchain (where the repository's tests install it).
 */
function findComponentize(appDir) {
  const roots = [];
  if (process.env.AERIE_JS_TOOLCHAIN) roots.push(resolve(process.env.AERIE_JS_TOOLCHAIN));
  for (const start of [appDir, KIT]) {
    for (let d = start; ; d = dirname(d)) {
      roots.push(d);
      if (dirname(d) === d) break;
    }
  }
  roots.push(join(KIT, '..', '..', 'target', 'js-toolchain'));
  for (const r of roots) {
    const pkg = join(r, 'node_modules', '@bytecodealliance', 'componentize-js');
    if (existsSync(join(pkg, 'package.json'))) {
      const meta = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
      const entry = meta.exports?.import ?? meta.exports?.['.']?.import ?? meta.main;
      return { url: pathToFileURL(join(pkg, entry)).href, version: meta.version };
    }
  }
  return undefined;
}

/** The WIT directory: --wit, $AERIE_WIT, or wit/ above the kit (in an aerie checkout). */
function findWit(given) {
  const candidates = [given, process.env.AERIE_WIT];
  for (let d = KIT; dirname(d) !== d; d = dirname(d)) candidates.push(join(d, 'wit'));
  const wit = candidates.find((c) => c && existsSync(join(c, 'aerie.wit')));
  if (!wit) throw new Error(`no aerie.wit found; pass --wit DIR (the wit/ directory of an aerie checkout)`);
  return resolve(wit);
}

const SKIP = new Set(['node_modules', '.git', 'target']);

/** Copy the app's sources (.js, .mjs, .json) into `to`, rewriting the kit's import. */
async function stageApp(from, to, kitIndex) {
  await mkdir(to, { recursive: true });
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (e.name.startsWith('.') || SKIP.has(e.name)) continue;
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) {
      await stageApp(src, dst, kitIndex);
    } else if (/\.(m?js|json)$/.test(e.name)) {
      let text = await readFile(src, 'utf8');
      if (/\.m?js$/.test(e.name)) {
        let rel = relative(dirname(dst), kitIndex).split(sep).join('/');
        if (!rel.startsWith('.')) rel = `./${rel}`;
        text = text.replace(/(from\s*|import\s*\(\s*)(['"])aerie-plugin\2/g, `$1'${rel}'`);
      }
      await writeFile(dst, text);
    }
  }
}

/**
 * Build `app` into a component at `out`. Returns {bytes, ms}.
 * @param {{app: string, out: string, wit?: string, world?: string}} o
 */
export async function build(o) {
  const app = resolve(o.app);
  if (!(await stat(app).catch(() => null))?.isFile()) throw new Error(`no such file: ${app}`);
  const tool = findComponentize(dirname(app));
  if (!tool) throw new Error(`componentize-js is not installed: ${INSTALL}`);
  const wit = findWit(o.wit);
  const { componentize } = await import(tool.url);
  const stage = await mkdtemp(join(tmpdir(), 'aerie-js-'));
  const started = Date.now();
  try {
    await mkdir(join(stage, 'aerie-plugin'));
    await cp(join(KIT, 'index.js'), join(stage, 'aerie-plugin', 'index.js'));
    await cp(join(KIT, 'src'), join(stage, 'aerie-plugin', 'src'), { recursive: true });
    await stageApp(dirname(app), join(stage, 'app'), join(stage, 'aerie-plugin', 'index.js'));
    const main = relative(dirname(app), app).split(sep).join('/');
    const entry = join(stage, 'entry.js');
    await writeFile(
      entry,
      [
        "import * as falcon from 'aerie:plugin/falcon@0.2.0';",
        "import * as host from 'aerie:plugin/host@0.2.0';",
        "import * as files from 'aerie:plugin/files@0.2.0';",
        `import app from './app/${main}';`,
        "if (!app || typeof app.exports !== 'function') {",
        `  throw new Error('${main} must \`export default\` a plugin made with plugin() from aerie-plugin');`,
        '}',
        'export const tools = app.exports({ falcon, host, files });',
        '',
      ].join('\n'),
    );
    const { component } = await componentize({
      sourcePath: entry,
      witPath: wit,
      worldName: o.world ?? 'tool-group',
      disableFeatures: ['http', 'fetch-event'],
    });
    await mkdir(dirname(resolve(o.out)), { recursive: true });
    await writeFile(o.out, component);
    return { bytes: component.length, ms: Date.now() - started };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

function usage(msg) {
  console.error(`${msg}\nusage: node build.mjs APP.js -o OUT.wasm [--wit DIR] [--world tool-group]`);
  process.exit(2);
}

// Run as a program (also through npm's .bin symlink), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  const args = process.argv.slice(2);
  const o = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-o' || a === '--out') o.out = args[++i];
    else if (a === '--wit') o.wit = args[++i];
    else if (a === '--world') o.world = args[++i];
    else if (a === '-h' || a === '--help') usage('Build an aerie JavaScript tool group into a component.');
    else if (!o.app && !a.startsWith('-')) o.app = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!o.app) usage('give the app module');
  o.out ??= o.app.replace(/\.m?js$/, '') + '.wasm';
  try {
    const r = await build(o);
    console.log(`built ${o.out} (${(r.bytes / 1e6).toFixed(1)} MB in ${(r.ms / 1000).toFixed(1)} s)`);
  } catch (e) {
    console.error(`build failed: ${e?.message ?? e}`);
    process.exit(1);
  }
}
