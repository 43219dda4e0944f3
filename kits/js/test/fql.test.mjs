import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fql, quote, ids, InvalidArguments } from '../index.js';

test('values are quoted and escaped, so they cannot change the filter', () => {
  assert.equal(quote("it's"), "'it\\'s'");
  assert.equal(quote('a\\b'), "'a\\\\b'");
  const hostile = "x'+hostname:*'";
  assert.equal(new Fql().eq('hostname', hostile).build(), "hostname:'x\\'+hostname:*\\''");
});

test('terms join with + and render numbers and booleans bare', () => {
  const f = new Fql()
    .eq('platform_name', 'Windows')
    .gte('severity', 60)
    .ne('status', 'closed')
    .eq('reduced_functionality_mode', false)
    .anyOf('status', ['open', 'reopen'])
    .anyOf('ignored', [])
    .matches('hostname', 'web')
    .opt(undefined, (q, v) => q.eq('never', v))
    .opt('lnx', (q, v) => q.eq('hostname', v));
  assert.equal(
    f.build(),
    "platform_name:'Windows'+severity:>=60+status:!'closed'+reduced_functionality_mode:false+status:['open','reopen']+hostname:~'web'+hostname:'lnx'",
  );
  assert.equal(new Fql().build(), undefined);
});

test('or groups alternatives and raw FQL is parenthesised', () => {
  const f = new Fql()
    .eq('a', 1)
    .or([new Fql().eq('b', 'x'), new Fql().eq('c', 'y').eq('d', 'z'), new Fql()])
    .eqAnyField(['hostname', 'local_ip'], 'h')
    .raw(" platform_name:'Linux',platform_name:'Mac' ")
    .raw('  ');
  assert.equal(f.build(), "a:1+(b:'x',(c:'y'+d:'z'))+(hostname:'h',local_ip:'h')+(platform_name:'Linux',platform_name:'Mac')");
});

test('field names from code are checked', () => {
  assert.throws(() => new Fql().eq("x:'1'+y", 'v'), /bad FQL field name/);
});

test('agent ids are 32 hex, normalised', () => {
  assert.equal(ids.aid(' ABCDEF0123456789abcdef0123456789 '), 'abcdef0123456789abcdef0123456789');
  assert.throws(() => ids.aid('WS-FIN-042'), (e) => e instanceof InvalidArguments && /expected 32 hexadecimal/.test(e.message));
  assert.equal(ids.isAid('WS-FIN-042'), false);
  assert.deepEqual(ids.list(['a'.repeat(32), 'A'.repeat(32)], 5, 'host id', ids.aid), ['a'.repeat(32)]);
  assert.throws(() => ids.list([], 5, 'host id', ids.aid), /at least one host id/);
  assert.throws(() => ids.list(['a', 'b'], 1, 'host id', ids.aid), /at most 1 host ids/);
});
