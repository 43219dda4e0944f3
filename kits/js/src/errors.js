// Tool errors, mapped one-to-one onto the WIT `call-error` variant, and how Falcon's error
// statuses and the host's refusals become them. Messages are written for the model that called
// the tool: what went wrong and what to change.

/** Why a tool call failed. Throw one of the subclasses from a handler. */
export class ToolError extends Error {
  /**
   * @param {'invalid-arguments'|'not-found'|'upstream'|'denied'|'internal'} kind WIT case
   * @param {string} message
   * @param {number} [status] HTTP status, for `upstream`
   */
  constructor(kind, message, status) {
    super(message);
    this.kind = kind;
    this.status = status;
  }

  /** The WIT `call-error` value. */
  toWit() {
    if (this.kind === 'upstream') {
      return { tag: 'upstream', val: { status: this.status ?? 502, message: this.message } };
    }
    return { tag: this.kind, val: this.message };
  }
}

/** The arguments are wrong; the message says what to fix. */
export class InvalidArguments extends ToolError {
  /** @param {string} message */
  constructor(message) {
    super('invalid-arguments', message);
    this.name = 'InvalidArguments';
  }
}

/** An id or name does not exist; the message names it. */
export class NotFound extends ToolError {
  /** @param {string} message */
  constructor(message) {
    super('not-found', message);
    this.name = 'NotFound';
  }
}

/** Falcon answered with an error status (or the host reports a timeout/rate limit as one). */
export class Upstream extends ToolError {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super('upstream', message, status);
    this.name = 'Upstream';
  }
}

/** The host refused an operation; the message carries its reason. */
export class Denied extends ToolError {
  /** @param {string} message */
  constructor(message) {
    super('denied', message);
    this.name = 'Denied';
  }
}

/** Anything else; the message is safe to show. */
export class Internal extends ToolError {
  /** @param {string} message */
  constructor(message) {
    super('internal', message);
    this.name = 'Internal';
  }
}

/**
 * The WIT `call-error` for anything a handler threw: a ToolError as itself, any other exception
 * as `internal` with its message (a trap would tell the model nothing).
 * @param {unknown} e
 * @returns {{tag: string, val: any}}
 */
export function toCallError(e) {
  if (e instanceof ToolError) return e.toWit();
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { tag: 'internal', val: `the tool failed unexpectedly: ${message}` };
}

const MAX_QUOTED_BODY = 300;

/**
 * The human text of a Falcon error body: the envelope's `errors[].message` joined, or the start
 * of a non-envelope body.
 * @param {Uint8Array|string} body
 */
export function falconMessage(body) {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  try {
    const v = JSON.parse(text);
    const messages = (Array.isArray(v?.errors) ? v.errors : [])
      .map((e) => e?.message)
      .filter((m) => typeof m === 'string');
    if (messages.length) return messages.join('; ');
    for (const key of ['message', 'error', 'detail']) {
      if (typeof v?.[key] === 'string') return v[key];
    }
  } catch {
    // Not JSON: quote the start of it.
  }
  const trimmed = text.trim();
  return trimmed ? trimmed.slice(0, MAX_QUOTED_BODY) : 'no error message in the response';
}

/**
 * @typedef {object} ErrorContext
 * @property {string} operation Operation id.
 * @property {string} [subject] What the request was about, named in a 404.
 * @property {boolean} [hasFilter] The request carried an FQL filter.
 * @property {string} [scope] The API scope the operation needs, named in a 403.
 */

/**
 * Turn an error status from Falcon into the error the model sees.
 * @param {number} status
 * @param {Uint8Array|string} body
 * @param {ErrorContext} cx
 */
export function mapStatus(status, body, cx) {
  const msg = falconMessage(body);
  const op = cx.operation;
  if (status === 404) return new NotFound(cx.subject ? `${cx.subject} (${op}: ${msg})` : `${op}: ${msg}`);
  if (status === 400 && cx.hasFilter) {
    return new Upstream(
      status,
      `${op} rejected the request: ${msg}. Check the filter: FQL is field:'value', + is AND, , is OR, strings single-quoted`,
    );
  }
  if (status === 401) {
    return new Upstream(
      status,
      `Falcon rejected the API token for ${op}: ${msg}; the API client's credentials may have been revoked or rotated, or the host's clock is skewed (this is not a missing scope)`,
    );
  }
  if (status === 403) {
    const scope = cx.scope ? `; the API client needs scope \`${cx.scope}\` (add it in the Falcon console)` : '';
    return new Upstream(status, `Falcon refused ${op}: ${msg}${scope}`);
  }
  if (status === 409) {
    return new Upstream(status, `${op} conflicts with the current state: ${msg}; fetch the current state and retry`);
  }
  if (status === 429) return new Upstream(status, `${op} was rate limited: ${msg}; retry in a minute`);
  if (status >= 500) return new Upstream(status, `Falcon failed ${op}: ${msg}; retry later`);
  return new Upstream(status, `${op}: ${msg}`);
}

/**
 * Map the host's refusal or failure (the WIT `falcon.error`, thrown by `falcon.call`) to a tool
 * error. Timeouts, rate limits and transport failures are reported as upstream 504, 429 and 502.
 * @param {string} op
 * @param {{tag: string, val?: any}} e
 */
export function hostError(op, e) {
  switch (e?.tag) {
    case 'denied':
      return new Denied(`${op}: ${e.val}`);
    case 'timeout':
      return new Upstream(504, `${op} timed out; retry, or narrow the query (smaller limit, tighter filter)`);
    case 'rate-limited':
      return new Upstream(429, `${op} was rate limited: ${e.val}`);
    case 'transport': {
      const retry = String(e.val).includes('retry') ? '' : '; retry later';
      return new Upstream(502, `could not reach Falcon for ${op}: ${e.val}${retry}`);
    }
    case 'too-large':
      return new Internal(`${op} answered more than the host's ${e.val}-byte cap; lower \`limit\` or narrow the filter`);
    case 'auth':
      return new Internal(`the aerie host could not authenticate to Falcon (${e.val}); the operator must fix the credentials`);
    default:
      return new Internal(`${op}: unexpected host error ${JSON.stringify(e)}`);
  }
}
