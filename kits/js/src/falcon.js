// Calling Falcon through the host. The host resolves the operation id to a method and path,
// enforces the tool's grant and owns the token; the kit builds the request, parses the envelope
// and turns error statuses and host refusals into tool errors the model can act on.

import { Internal, hostError, mapStatus } from './errors.js';

/** The header the host adds to a 403: the scope its catalogue says the operation needs. */
export const REQUIRED_SCOPE = 'x-aerie-required-scope';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * @typedef {object} RequestOptions
 * @property {Record<string, string>} [path] Values of the `{name}` placeholders.
 * @property {Record<string, unknown> | Array<[string, unknown]>} [query] Query pairs; an array
 *   value repeats the name (`ids=a&ids=b`); undefined and null are left out.
 * @property {any} [body] JSON body (encoded here), or a Uint8Array sent as is.
 * @property {string} [subject] What the request is about, named in a 404.
 * @property {number[]} [allow] Non-2xx statuses returned instead of thrown (e.g. 404 as "none").
 */

/**
 * @typedef {object} Envelope
 * @property {number} status
 * @property {Array<[string, string]>} headers
 * @property {any[]} resources
 * @property {Record<string, any>} meta
 * @property {any[]} errors
 */

function pairs(query) {
  const out = [];
  const entries = Array.isArray(query) ? query : Object.entries(query ?? {});
  for (const [name, value] of entries) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null) out.push([name, String(v)]);
    }
  }
  return out;
}

/** The subject of a request for a 404: the ids it names. */
function subjectOf(query, body) {
  const q = query.filter(([k]) => k === 'ids').map(([, v]) => v);
  if (q.length) return q.join(', ');
  for (const key of ['ids', 'composite_ids', 'device_ids']) {
    if (Array.isArray(body?.[key]) && body[key].length) return body[key].join(', ');
  }
  return undefined;
}

export class Falcon {
  /** @param {(req: object) => {status: number, headers: Array<[string, string]>, body: Uint8Array}} call WIT `falcon.call` */
  constructor(call) {
    this.call = call;
  }

  /**
   * Send and return the raw response whatever its status; only the host's refusals throw.
   * @param {string} operation @param {RequestOptions} [o]
   */
  raw(operation, o = {}) {
    const query = pairs(o.query);
    let body;
    if (o.body instanceof Uint8Array) body = o.body;
    else if (o.body !== undefined) body = encoder.encode(JSON.stringify(o.body));
    const req = { operation, pathParams: Object.entries(o.path ?? {}).map(([k, v]) => [k, String(v)]), query, body };
    try {
      return this.call(req);
    } catch (e) {
      // componentize-js throws a WIT error value as an Error carrying it in `payload`.
      throw hostError(operation, e?.payload ?? e);
    }
  }

  /**
   * Send and parse the envelope; a status outside 2xx (and not in `allow`) becomes the matching
   * tool error (404 not-found naming the subject, 403 naming the scope to add, ...).
   * @param {string} operation @param {RequestOptions} [o] @returns {Envelope}
   */
  send(operation, o = {}) {
    const r = this.raw(operation, o);
    const ok = (r.status >= 200 && r.status < 300) || (o.allow ?? []).includes(r.status);
    if (!ok) {
      const query = pairs(o.query);
      throw mapStatus(r.status, r.body, {
        operation,
        subject: o.subject ?? subjectOf(query, o.body),
        hasFilter: query.some(([k]) => k === 'filter') || typeof o.body?.filter === 'string',
        scope: r.headers.find(([k]) => k.toLowerCase() === REQUIRED_SCOPE)?.[1],
      });
    }
    let v = {};
    if (r.body.length) {
      try {
        v = JSON.parse(decoder.decode(r.body));
      } catch (e) {
        throw new Internal(`Falcon returned a body that is not the expected JSON for ${operation}: ${e.message}`);
      }
    }
    return {
      status: r.status,
      headers: r.headers,
      resources: Array.isArray(v?.resources) ? v.resources : [],
      meta: v?.meta ?? {},
      errors: Array.isArray(v?.errors) ? v.errors : [],
    };
  }
}
