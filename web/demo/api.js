// The tRPC v11 wire protocol with plain fetch (PROTOCOL.md §1): queries are
// GET ?input=<JSON>, mutations POST a JSON body, the token rides in
// Authorization: Bearer. No transformer: dates come back as ISO strings.

const BASE = '/api/trpc';
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(message, { code = 'NETWORK', httpStatus = 0, path = '', fieldErrors = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code; // tRPC code: BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, ... or NETWORK
    this.httpStatus = httpStatus;
    this.path = path;
    this.fieldErrors = fieldErrors;
  }

  // The server does not serve this procedure (yet): tRPC answers NOT_FOUND
  // "No procedure found on path ...".
  get missingProcedure() {
    return this.code === 'NOT_FOUND' && /no procedure/i.test(this.message);
  }
}

let token = null;
let onUnauthorized = null;

export function setToken(t) { token = t; }
export function getToken() { return token; }
// Called when an authenticated call is refused: the token expired or the
// server's secret changed.
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function timeoutSignal(ms) {
  if (AbortSignal.timeout) return AbortSignal.timeout(ms);
  const c = new AbortController();
  setTimeout(() => c.abort(), ms);
  return c.signal;
}

async function call(kind, path, input) {
  let url = `${BASE}/${path}`;
  const init = { method: 'GET', headers: {}, signal: timeoutSignal(TIMEOUT_MS) };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (kind === 'query') {
    if (input !== undefined) url += `?input=${encodeURIComponent(JSON.stringify(input))}`;
  } else {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(input === undefined ? {} : input);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(e?.name === 'TimeoutError' || e?.name === 'AbortError' ? 'timeout' : 'network', { code: 'NETWORK', path });
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`HTTP ${res.status}`, { code: res.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INTERNAL_SERVER_ERROR', httpStatus: res.status, path });
  }
  if (body && body.error) {
    const e = body.error.json || body.error; // a superjson error is wrapped; this client never asks for one
    const err = new ApiError(e.message || 'error', {
      code: e.data?.code || 'INTERNAL_SERVER_ERROR', httpStatus: e.data?.httpStatus || res.status, path,
      fieldErrors: e.data?.fieldErrors || null,
    });
    if (err.code === 'UNAUTHORIZED' && token && onUnauthorized && !path.startsWith('auth.')) onUnauthorized(err);
    throw err;
  }
  if (!res.ok || !body || !('result' in body)) {
    throw new ApiError(`HTTP ${res.status}`, { code: 'INTERNAL_SERVER_ERROR', httpStatus: res.status, path });
  }
  return body.result.data;
}

export const query = (path, input) => call('query', path, input);
export const mutate = (path, input) => call('mutation', path, input);
