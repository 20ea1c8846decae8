// Helpers for the @trpc/client compatibility suite: server lifecycle, clients, assertions.
// Written only from shared/PROTOCOL.md and shared/fixtures/trpc/ (golden.json).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

import { TRPCClientError, createTRPCClient, httpBatchLink, httpLink } from '@trpc/client';
import superjson from 'superjson';

export { TRPCClientError };

const HERE = dirname(fileURLToPath(import.meta.url));

// One run's random tag: usernames, titles and categories carry it so reruns against a long-lived
// server (CHOBI_URL) never collide.
export const RUN = randomBytes(3).toString('hex');

// ---------------------------------------------------------------------------------------------
// Server lifecycle

const REQUEST_TIMEOUT_MS = Number(process.env.CHOBI_REQUEST_TIMEOUT_MS || 10_000);

let baseUrl = null;
let child = null;
let childExited = null; // promise resolved with {code, signal} when the child exits
let dataDir = null;
let logPath = null;

export function base() {
  if (!baseUrl) throw new Error('server not started (the root before() hook failed)');
  return baseUrl;
}
export const trpcUrl = () => `${base()}/api/trpc`;

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function logTail(n = 60) {
  try {
    return readFileSync(logPath, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '(no server log)';
  }
}

// Starts the server (or adopts CHOBI_URL) and waits for GET /healthz == 200.
export async function startServer() {
  if (process.env.CHOBI_URL) {
    baseUrl = process.env.CHOBI_URL.replace(/\/+$/, '');
    await waitHealthy(20_000);
    return baseUrl;
  }
  const bin = resolve(HERE, process.env.CHOBI_BIN || '../../bin/chobi');
  if (!existsSync(bin)) {
    throw new Error(`server binary not found: ${bin} (build it with 'go build -o bin/chobi ./cmd/chobi' or set CHOBI_BIN / CHOBI_URL)`);
  }
  const port = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), 'chobi-trpc-compat-'));
  logPath = join(dataDir, 'server.log');
  const env = { ...process.env };
  delete env.TRPC_TRANSFORMER; // auto-detect mode: must serve plain and superjson clients per request
  delete env.TRPC_MAX_BATCH; // the batch-limit checks assume the default, 50
  delete env.CHOBI_URL;
  Object.assign(env, {
    HTTP_ADDR: `127.0.0.1:${port}`,
    CHOBI_DATA_DIR: dataDir,
    CHOBI_ENV: 'development',
  });
  // Assumption: the binary serves with no arguments. CHOBI_ARGS (space-separated, e.g. "serve")
  // overrides that if the server wants a subcommand.
  const args = (process.env.CHOBI_ARGS || '').split(/\s+/).filter(Boolean);
  const log = createWriteStream(logPath);
  child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const logClosed = new Promise((res) => log.once('close', res));
  // 'close' comes after the process exited and its stdout/stderr were drained into the log.
  childExited = new Promise((res) => child.once('close', (code, signal) => {
    log.end();
    logClosed.then(() => res({ code, signal }));
  }));
  child.once('error', (e) => log.write(`spawn error: ${e.stack}\n`));
  // Never leave the server behind, whatever happens to this process.
  process.once('exit', () => { try { child?.kill('SIGKILL'); } catch {} });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => { try { child?.kill('SIGKILL'); } catch {} process.exit(sig === 'SIGINT' ? 130 : 143); });
  }
  baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(20_000);
  } catch (e) {
    await stopServer({ readLogFirst: true });
    throw new Error(`${e.message}\n--- server log (last lines) ---\n${lastLog}`);
  }
  return baseUrl;
}

async function waitHealthy(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`server exited early with code ${child.exitCode}`);
    try {
      const r = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.cause?.code || e.message;
    }
    await sleep(100);
  }
  throw new Error(`GET ${baseUrl}/healthz did not return 200 within ${timeoutMs} ms (last: ${last})`);
}

let lastLog = '';

export async function stopServer({ readLogFirst = false } = {}) {
  if (child) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const done = await Promise.race([childExited, sleep(5000).then(() => null)]);
    if (!done) {
      child.kill('SIGKILL');
      await Promise.race([childExited, sleep(5000)]);
    }
  }
  child = null;
  if (readLogFirst) lastLog = logTail();
  if (dataDir && !process.env.CHOBI_KEEP_DATA) {
    try { rmSync(dataDir, { recursive: true, force: true }); } catch {}
  } else if (dataDir) {
    console.log(`# server data and log kept in ${dataDir}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Clients: the 4 modes

// Every request gets a deadline so a hung server fails a test instead of the whole run.
export function timedFetch(url, init = {}) {
  return fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
}

export const MODES = [
  { key: 'link-plain', name: 'httpLink, no transformer', link: httpLink, sj: false, batch: false },
  { key: 'link-sj', name: 'httpLink, superjson', link: httpLink, sj: true, batch: false },
  { key: 'batch-plain', name: 'httpBatchLink, no transformer', link: httpBatchLink, sj: false, batch: true },
  { key: 'batch-sj', name: 'httpBatchLink, superjson', link: httpBatchLink, sj: true, batch: true },
];

// An untyped v11 client (createTRPCClient with an `any` router): client.a.b.query(input) etc.
// v11 puts the transformer on the link. The token travels in the link's `headers`.
export function makeClient(mode, token) {
  const opts = { url: trpcUrl(), fetch: timedFetch };
  if (token) opts.headers = () => ({ authorization: `Bearer ${token}` });
  if (mode.sj) opts.transformer = superjson;
  return createTRPCClient({ links: [mode.link(opts)] });
}

// ---------------------------------------------------------------------------------------------
// Assertions

export const TRPC_CODES = {
  PARSE_ERROR: [-32700, 400],
  BAD_REQUEST: [-32600, 400],
  UNAUTHORIZED: [-32001, 401],
  PAYMENT_REQUIRED: [-32002, 402],
  FORBIDDEN: [-32003, 403],
  NOT_FOUND: [-32004, 404],
  METHOD_NOT_SUPPORTED: [-32005, 405],
  CONFLICT: [-32009, 409],
  PRECONDITION_FAILED: [-32012, 412],
  PAYLOAD_TOO_LARGE: [-32013, 413],
  UNSUPPORTED_MEDIA_TYPE: [-32015, 415],
  UNPROCESSABLE_CONTENT: [-32022, 422],
  TOO_MANY_REQUESTS: [-32029, 429],
  INTERNAL_SERVER_ERROR: [-32603, 500],
};

const show = (v) => inspect(v, { depth: 6, breakLength: 120 });

// Awaits a call that must fail with a TRPCClientError of the given tRPC code (or one of several).
// opts.field: a validation error that must name that field in `message` and list it in
//             data.fieldErrors (PROTOCOL.md section 1).
// opts.path:  the procedure path expected in data.path.
export async function expectTRPCError(promise, codes, opts = {}) {
  const want = Array.isArray(codes) ? codes : [codes];
  let err;
  try {
    const v = await promise;
    assert.fail(`expected TRPCClientError ${want.join('|')}, but the call resolved with ${show(v)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(err instanceof TRPCClientError, `expected a TRPCClientError, got ${show(err)}`);
  const ctx = `(message: ${JSON.stringify(err.message)}, shape: ${show(err.shape)})`;
  assert.ok(want.includes(err.data?.code), `data.code ${show(err.data?.code)} not in ${want.join('|')} ${ctx}`);
  const [rpc, http] = TRPC_CODES[err.data.code] ?? [];
  assert.equal(err.data.httpStatus, http, `data.httpStatus for ${err.data.code} ${ctx}`);
  assert.equal(err.shape?.code, rpc, `JSON-RPC shape.code for ${err.data.code} ${ctx}`);
  assert.equal(typeof err.message, 'string');
  assert.ok(err.message.length > 0, 'error message is empty');
  if (opts.path) assert.equal(err.data.path, opts.path, `data.path ${ctx}`);
  if (opts.field) {
    assert.ok(err.message.includes(opts.field), `validation message should name the field "${opts.field}" ${ctx}`);
    const fe = err.data.fieldErrors;
    assert.ok(fe && typeof fe === 'object', `data.fieldErrors missing ${ctx}`);
    assert.ok(Array.isArray(fe[opts.field]) && fe[opts.field].length > 0,
      `data.fieldErrors.${opts.field} should be a non-empty array ${ctx}`);
    for (const m of fe[opts.field]) assert.equal(typeof m, 'string', `data.fieldErrors.${opts.field} entries are strings`);
  }
  return err;
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

// Times: ISO-8601 strings in plain mode, real Dates in superjson mode (PROTOCOL.md section 1).
export function assertTime(mode, v, what) {
  if (mode.sj) {
    assert.ok(v instanceof Date, `${what} should be a Date in superjson mode, got ${show(v)}`);
    assert.ok(!Number.isNaN(v.getTime()), `${what} is an invalid Date`);
  } else {
    assert.equal(typeof v, 'string', `${what} should be an ISO-8601 string in plain mode, got ${show(v)}`);
    assert.match(v, ISO_RE, `${what} should be ISO-8601`);
    assert.ok(!Number.isNaN(Date.parse(v)), `${what} does not parse as a date`);
  }
}
export const timeMs = (v) => (v instanceof Date ? v.getTime() : Date.parse(v));

export function assertStr(v, what, { empty = false } = {}) {
  assert.equal(typeof v, 'string', `${what} should be a string, got ${show(v)}`);
  if (!empty) assert.ok(v.length > 0, `${what} should not be empty`);
}
export function assertNum(v, what, { int = false, min = undefined } = {}) {
  assert.equal(typeof v, 'number', `${what} should be a number, got ${show(v)}`);
  assert.ok(Number.isFinite(v), `${what} should be finite`);
  if (int) assert.ok(Number.isInteger(v), `${what} should be an integer, got ${v}`);
  if (min !== undefined) assert.ok(v >= min, `${what} should be >= ${min}, got ${v}`);
}
export function assertStrOrNull(v, what) {
  assert.ok(v === null || typeof v === 'string', `${what} should be a string or null, got ${show(v)}`);
}
export function assertObj(v, what) {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} should be an object, got ${show(v)}`);
}
export function assertWsUrl(v, what) {
  assertStr(v, what);
  assert.match(v, /^wss?:\/\/[^/]+/, `${what} should be an absolute ws:// or wss:// URL`);
  assert.ok(!/[?&]token=/.test(v), `${what} must not carry the token`);
}
export function assertIceServers(v) {
  assert.ok(Array.isArray(v), `iceServers should be an array, got ${show(v)}`);
  for (const [i, s] of v.entries()) {
    assertObj(s, `iceServers[${i}]`);
    assert.ok(Array.isArray(s.urls) && s.urls.length > 0, `iceServers[${i}].urls should be a non-empty array`);
    for (const u of s.urls) assertStr(u, `iceServers[${i}].urls[]`);
  }
}
export { show, sleep };
