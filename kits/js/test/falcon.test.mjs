import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Falcon, collect, plugin, arg, Output, NotFound, InvalidArguments } from '../index.js';
import { fakeFalcon, q } from './fake.mjs';

const envelope = (resources, pagination) => ({ meta: { pagination }, resources, errors: [] });

test('a call returns the parsed envelope and encodes query, path and body', () => {
  const f = fakeFalcon({ QueryDevicesByFilter: () => ({ body: envelope(['a', 'b'], { total: 2 }) }), PostDeviceDetailsV2: () => ({ body: envelope([]) }) });
  const falcon = new Falcon(f.call);
  const env = falcon.send('QueryDevicesByFilter', { query: { filter: "hostname:'x'", limit: 5, ids: ['1', '2'], skip: undefined }, path: { id: 7 } });
  assert.deepEqual(env.resources, ['a', 'b']);
  assert.equal(env.meta.pagination.total, 2);
  assert.deepEqual(f.calls[0].query, [['filter', "hostname:'x'"], ['limit', '5'], ['ids', '1'], ['ids', '2']]);
  assert.deepEqual(f.calls[0].pathParams, [['id', '7']]);
  assert.equal(f.calls[0].body, undefined);
  falcon.send('PostDeviceDetailsV2', { body: { ids: ['x'] } });
  assert.deepEqual(JSON.parse(new TextDecoder().decode(f.calls[1].body)), { ids: ['x'] });
});

test('error statuses carry Falcon’s message, the subject and the scope to add', () => {
  const err = (status, headers = []) => () => ({ status, headers, body: { errors: [{ code: status, message: 'Falcon says no' }] } });
  const f = fakeFalcon({
    Forbidden: err(403, [['x-aerie-required-scope', 'Hosts:read']]),
    Missing: err(404),
    BadFilter: err(400),
    Broken: () => ({ status: 503, body: 'upstream down' }),
    Garbled: () => ({ status: 200, body: '<html>' }),
  });
  const falcon = new Falcon(f.call);
  assert.throws(() => falcon.send('Forbidden'), (e) => e.kind === 'upstream' && e.status === 403 && /Falcon says no/.test(e.message) && /`Hosts:read`/.test(e.message));
  assert.throws(() => falcon.send('Missing', { query: { ids: ['abc'] } }), (e) => e instanceof NotFound && /^abc \(Missing: Falcon says no\)/.test(e.message));
  assert.throws(() => falcon.send('BadFilter', { query: { filter: 'x' } }), (e) => e.status === 400 && /Check the filter/.test(e.message));
  assert.throws(() => falcon.send('Broken'), (e) => e.status === 503 && /upstream down; retry later/.test(e.message));
  assert.deepEqual(falcon.send('Missing', { allow: [404] }).resources, []);
  assert.throws(() => falcon.send('Garbled'), (e) => e.kind === 'internal' && /not the expected JSON for Garbled/.test(e.message));
});

test('host refusals become clear tool errors', () => {
  const host = (hostError) => () => ({ hostError });
  const f = fakeFalcon({
    T: host({ tag: 'timeout' }),
    R: host({ tag: 'rate-limited', val: 'retry after 30s' }),
    X: host({ tag: 'transport', val: 'connection reset' }),
    L: host({ tag: 'too-large', val: 1048576n }),
    A: host({ tag: 'auth', val: 'set FALCON_CLIENT_SECRET' }),
  });
  const falcon = new Falcon(f.call);
  const wit = (op) => {
    try {
      falcon.send(op);
    } catch (e) {
      return e.toWit();
    }
    assert.fail('no error');
  };
  assert.deepEqual(wit('Undeclared'), { tag: 'denied', val: 'Undeclared: operation `Undeclared` is not granted' });
  assert.equal(wit('T').val.status, 504);
  assert.match(wit('R').val.message, /rate limited: retry after 30s/);
  assert.match(wit('X').val.message, /could not reach Falcon for X: connection reset; retry later/);
  assert.deepEqual(wit('L'), { tag: 'internal', val: "L answered more than the host's 1048576-byte cap; lower `limit` or narrow the filter" });
  assert.match(wit('A').val, /set FALCON_CLIENT_SECRET/);
});

test('offset paging reads every page up to the limit', () => {
  const all = Array.from({ length: 250 }, (_, i) => `id${i}`);
  const f = fakeFalcon({
    Q: (req) => {
      const offset = Number(q(req, 'offset')[0] ?? 0);
      const limit = Number(q(req, 'limit')[0]);
      return { body: envelope(all.slice(offset, offset + limit), { offset, limit, total: all.length }) };
    },
  });
  const falcon = new Falcon(f.call);
  const some = collect(falcon, 'Q', { query: { filter: 'x' }, limit: 120, pageSize: 50 });
  assert.deepEqual(some.resources, all.slice(0, 120));
  assert.equal(some.hasMore, true);
  assert.deepEqual(some.next, { offset: 120 });
  assert.deepEqual(f.calls.map((c) => [q(c, 'offset')[0], q(c, 'limit')[0]]), [[undefined, '50'], ['50', '50'], ['100', '20']]);
  const every = collect(falcon, 'Q', { limit: 1000 });
  assert.equal(every.resources.length, 250);
  assert.equal(every.hasMore, false);
  assert.equal(every.total, 250);
});

test('after paging follows the cursor until it ends', () => {
  const f = fakeFalcon({
    V: (req) => {
      const at = Number(q(req, 'after')[0] ?? 0);
      const next = at + 2 < 5 ? String(at + 2) : undefined;
      return { body: envelope(['a', 'b', 'c', 'd', 'e'].slice(at, at + 2), { limit: 2, total: 5, after: next }) };
    },
  });
  const falcon = new Falcon(f.call);
  const r = collect(falcon, 'V', { query: { filter: 'x' }, limit: 10, pageSize: 2 });
  assert.deepEqual(r.resources, ['a', 'b', 'c', 'd', 'e']);
  assert.equal(r.hasMore, false);
  assert.deepEqual(f.calls.map((c) => q(c, 'after')[0]), [undefined, '2', '4']);
  const first = collect(falcon, 'V', { limit: 3, pageSize: 2 });
  assert.deepEqual(first.resources, ['a', 'b', 'c']);
  assert.equal(first.hasMore, true);
  assert.deepEqual(first.next, { after: '4' });
});

test('the exports map results, tool errors and unexpected exceptions to the WIT', () => {
  const f = fakeFalcon({ QueryDevicesByFilter: () => ({ body: envelope(['a']) }) });
  const logged = [];
  const env = { falcon: { call: f.call }, host: { log: (l, m) => logged.push([l, m]), config: (k) => (k === 'team' ? 'blue' : undefined) } };
  const exports = plugin({ name: 'demo', description: 'd' })
    .tool({ name: 'demo_ok', title: 't', description: 'd', operations: ['QueryDevicesByFilter'], args: { n: arg.int({ default: 2 }) } }, (a, ctx) => {
      ctx.log('info', `n=${a.n}`);
      const ids = ctx.falcon.send('QueryDevicesByFilter').resources;
      return Output.json(`${ids.length} host(s), team ${ctx.config('team')}`, { ids, n: a.n });
    })
    .tool({ name: 'demo_bad', title: 't', description: 'd', operations: [] }, () => {
      throw new InvalidArguments('give a hostname');
    })
    .tool({ name: 'demo_bug', title: 't', description: 'd', operations: [] }, () => null.x)
    .exports(env);
  const out = exports.call('demo_ok', '{}');
  assert.equal(out.text, '1 host(s), team blue\n{"ids":["a"],"n":2}');
  assert.deepEqual(JSON.parse(out.structured), { ids: ['a'], n: 2 });
  assert.deepEqual(logged, [['info', 'n=2']]);
  const payload = (tool, args = '{}') => {
    try {
      exports.call(tool, args);
    } catch (e) {
      return e.payload;
    }
    assert.fail('no error');
  };
  assert.deepEqual(payload('demo_bad'), { tag: 'invalid-arguments', val: 'give a hostname' });
  assert.equal(payload('demo_bug').tag, 'internal');
  assert.match(payload('demo_bug').val, /TypeError: Cannot read properties of null/);
  assert.equal(payload('demo_ok', '{nope').tag, 'invalid-arguments');
  assert.equal(payload('nope').tag, 'internal');
});
