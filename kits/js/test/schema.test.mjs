import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arg, objectSchema, plugin } from '../index.js';

test('compact declarations become a closed JSON Schema', () => {
  const s = objectSchema({
    hostname: arg.string({ required: true, pattern: '^[A-Za-z0-9-]+$', maxLength: 255, description: 'Host' }),
    limit: arg.int({ min: 1, max: 100, default: 10 }),
    open: arg.bool(),
    kind: arg.enum(['a', 'b']),
    ids: arg.list(arg.string({ pattern: '^[0-9a-f]{32}$' }), { min: 1, max: 50 }),
  });
  assert.deepEqual(s, {
    type: 'object',
    additionalProperties: false,
    required: ['hostname'],
    properties: {
      hostname: { type: 'string', pattern: '^[A-Za-z0-9-]+$', maxLength: 255, description: 'Host' },
      limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
      open: { type: 'boolean' },
      kind: { type: 'string', enum: ['a', 'b'] },
      ids: { type: 'array', items: { type: 'string', pattern: '^[0-9a-f]{32}$' }, minItems: 1, maxItems: 50 },
    },
  });
});

test('declaration mistakes are caught when the plugin is declared', () => {
  assert.throws(() => arg.int({ minimum: 1 }), /unknown option `minimum`/);
  assert.throws(() => arg.string({ required: true, default: 'x' }), /cannot be required/);
  assert.throws(() => objectSchema({ Bad: arg.bool() }), /argument name `Bad`/);
  const p = plugin({ name: 'demo', description: 'd' });
  assert.throws(() => p.tool({ name: 'Demo-x', title: 't', description: 'd', operations: [] }, () => ''), /tool name/);
  assert.throws(() => p.tool({ name: 'demo_x', title: 't', description: 'd', operations: [], tier: 'read', opps: [] }, () => ''), /unknown field opps/);
});

test('the descriptor carries tiers, hints, operations and the schema as JSON text', () => {
  const p = plugin({ name: 'demo', version: '1.2.3', description: 'Demo' })
    .tool({ name: 'demo_read', title: 'R', description: 'r', operations: ['QueryDevicesByFilter'], args: { n: arg.int({ default: 3 }) } }, () => '')
    .tool({ name: 'demo_write', title: 'W', description: 'w', tier: 'write', destructive: true, operations: ['PerformActionV2'] }, () => '');
  const d = p.describe();
  assert.equal(d.version, '1.2.3');
  const [r, w] = d.tools;
  assert.equal(r.tier, 'read');
  assert.equal(r.idempotent, true);
  assert.deepEqual(r.operations, ['QueryDevicesByFilter']);
  assert.equal(JSON.parse(r.inputSchema).properties.n.default, 3);
  assert.equal(w.tier, 'write');
  assert.equal(w.destructive, true);
  assert.equal(w.idempotent, false);
  assert.deepEqual(JSON.parse(w.inputSchema), { type: 'object', properties: {}, additionalProperties: false });
});
