// aerie-plugin: the JavaScript kit for aerie tool groups. See README.md.
export { plugin, Plugin } from './src/plugin.js';
export { arg, objectSchema } from './src/schema.js';
export { Fql, quote } from './src/fql.js';
export * as ids from './src/ids.js';
export { Falcon, REQUIRED_SCOPE } from './src/falcon.js';
export { collect } from './src/paging.js';
export { Output } from './src/output.js';
export {
  ToolError,
  InvalidArguments,
  NotFound,
  Upstream,
  Denied,
  Internal,
  falconMessage,
  mapStatus,
  hostError,
} from './src/errors.js';
