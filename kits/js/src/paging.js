// Reading every page of a query up to a limit: offset paging (`offset` + `meta.pagination.total`)
// and cursor paging (`after` + `meta.pagination.after`), told apart by what Falcon answers.

/**
 * @typedef {object} Collected
 * @property {any[]} resources Everything read, at most `limit`.
 * @property {number|undefined} total Total matches upstream, when Falcon says.
 * @property {boolean} hasMore More matches beyond `limit`.
 * @property {{offset: number} | {after: string} | undefined} next Where to continue.
 */

/**
 * Read pages of `operation` until `limit` resources, the end, or `maxPages`.
 * @param {import('./falcon.js').Falcon} falcon
 * @param {string} operation
 * @param {import('./falcon.js').RequestOptions & {limit: number, pageSize?: number, maxPages?: number, onPage?: (got: number, total: number|undefined) => void}} o
 * @returns {Collected}
 */
export function collect(falcon, operation, o) {
  const { limit, pageSize = 100, maxPages = 100, onPage, ...request } = o;
  if (!(limit >= 1)) throw new TypeError(`collect: limit must be at least 1, got ${limit}`);
  /** @type {Record<string, any>} */
  const query = Array.isArray(request.query) ? Object.fromEntries(request.query) : { ...request.query };
  const resources = [];
  let offset = Number(query.offset ?? 0);
  let after = query.after;
  let total;
  for (let page = 0; page < maxPages; page++) {
    const want = Math.min(pageSize, limit - resources.length);
    /** @type {Record<string, any>} */
    const q = { ...query, limit: want };
    if (after !== undefined) q.after = after;
    else if (offset) q.offset = offset;
    const env = falcon.send(operation, { ...request, query: q });
    const p = env.meta?.pagination ?? {};
    if (typeof p.total === 'number') total = p.total;
    const taken = env.resources.slice(0, limit - resources.length);
    resources.push(...taken);
    onPage?.(resources.length, total);
    const cursor = typeof p.after === 'string' && p.after ? p.after : undefined;
    if (cursor !== undefined || after !== undefined) {
      after = cursor;
      if (after === undefined || !env.resources.length) return { resources, total, hasMore: false, next: undefined };
      if (resources.length >= limit) return { resources, total, hasMore: true, next: { after } };
    } else {
      offset += taken.length;
      const more = total !== undefined ? offset < total : env.resources.length === want;
      if (!more || !env.resources.length) return { resources, total, hasMore: false, next: undefined };
      if (resources.length >= limit) return { resources, total, hasMore: true, next: { offset } };
    }
  }
  const next = after !== undefined ? { after } : { offset };
  return { resources, total, hasMore: true, next };
}
