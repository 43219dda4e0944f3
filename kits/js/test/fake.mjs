// A fake of the host's falcon import for the kit's tests: answers from a table of handlers and
// records every request.

const enc = new TextEncoder();

/** @param {Record<string, (req: any, n: number) => {status?: number, headers?: any[], body?: any}>} routes */
export function fakeFalcon(routes) {
  const calls = [];
  const call = (req) => {
    calls.push(req);
    const route = routes[req.operation];
    if (!route) {
      const e = new Error('denied');
      e.payload = { tag: 'denied', val: `operation \`${req.operation}\` is not granted` };
      throw e;
    }
    const r = route(req, calls.filter((c) => c.operation === req.operation).length);
    if (r.hostError) {
      const e = new Error('host error');
      e.payload = r.hostError;
      throw e;
    }
    const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? {});
    return { status: r.status ?? 200, headers: r.headers ?? [], body: enc.encode(body) };
  };
  return { call, calls };
}

/** The query value of `name` in a recorded request. */
export function q(req, name) {
  return req.query.filter(([k]) => k === name).map(([, v]) => v);
}
