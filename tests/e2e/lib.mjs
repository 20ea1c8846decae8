// Helpers for the demo page's browser tests: the real server binary on a free
// port with a fresh data dir, real Chromium (Debian's) through playwright-core,
// polling assertions, screenshots, and measurements taken inside the page.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
export const OUT_DIR = resolve(HERE, process.env.E2E_OUTPUT_DIR || 'output');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

// ---------------------------------------------------------------------------
// The server

export class Server {
  // overrides replace the server's settings (e.g. RTC_UDP_HOST).
  async start(overrides = {}) {
    const bin = resolve(HERE, process.env.CHOBI_BIN || '../../bin/chobi');
    if (!existsSync(bin)) {
      throw new Error(`server binary not found: ${bin} (build it with 'go build -o bin/chobi ./cmd/chobi' or set CHOBI_BIN)`);
    }
    const port = await freePort();
    this.dataDir = mkdtempSync(join(tmpdir(), 'chobi-e2e-'));
    this.logPath = join(this.dataDir, 'server.log');
    const env = { ...process.env };
    for (const k of ['DATABASE_URL', 'POSTGRES_HOST', 'REDIS_HOST', 'PUBLIC_WS_URL', 'RTC_DISABLED', 'RTC_PORT_RANGE', 'TRPC_TRANSFORMER', 'JWT_SECRET']) delete env[k];
    Object.assign(env, {
      CHOBI_ENV: 'development',
      HTTP_ADDR: `127.0.0.1:${port}`,
      CHOBI_DATA_DIR: this.dataDir,
      RTC_UDP_PORT: '0',
      RTC_UDP_HOST: '127.0.0.1',
      RTC_INCLUDE_LOOPBACK: 'true',
      LOG_LEVEL: process.env.LOG_LEVEL || 'info',
    }, overrides);
    const log = createWriteStream(this.logPath);
    this.child = spawn(bin, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.pipe(log, { end: false });
    this.child.stderr.pipe(log, { end: false });
    this.exited = new Promise((res) => this.child.once('close', (code, signal) => { log.end(); res({ code, signal }); }));
    const kill = () => { try { this.child?.kill('SIGKILL'); } catch { /* gone */ } };
    process.once('exit', kill);
    this.url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`server exited early (code ${this.child.exitCode})\n${this.logTail()}`);
      try {
        const r = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) break;
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error(`server did not become healthy\n${this.logTail()}`);
      await sleep(100);
    }
    return this;
  }

  logTail(n = 40) {
    try { return readFileSync(this.logPath, 'utf8').split('\n').slice(-n).join('\n'); } catch { return '(no log)'; }
  }

  async stop() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const done = await Promise.race([this.exited, sleep(8000).then(() => null)]);
      if (!done) { this.child.kill('SIGKILL'); await Promise.race([this.exited, sleep(3000)]); }
    }
    if (this.dataDir && !process.env.CHOBI_KEEP_DATA) rmSync(this.dataDir, { recursive: true, force: true });
  }

  // A tRPC call from the test itself (plain fetch, like the page).
  async trpc(kind, path, input, token) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    let res;
    if (kind === 'query') {
      const q = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
      res = await fetch(`${this.url}/api/trpc/${path}${q}`, { headers, signal: AbortSignal.timeout(10000) });
    } else {
      res = await fetch(`${this.url}/api/trpc/${path}`, {
        method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(input ?? {}),
        signal: AbortSignal.timeout(10000),
      });
    }
    return { status: res.status, body: await res.json() };
  }
}

// ---------------------------------------------------------------------------
// Browsers

const BASE_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
];

const profiles = [];

// One Chromium with its own fresh profile. fakeUI grants the fake camera and
// mic; without it every permission prompt is denied, as a user refusing would.
export async function launch(name, { viewport = { width: 1280, height: 800 }, mobile = false, fakeUI = true, locale = 'en-US' } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it with 'apt-get install -y chromium' (or set CHROMIUM_PATH)`);
  }
  const dir = mkdtempSync(join(tmpdir(), `chobi-e2e-${name}-`));
  profiles.push(dir);
  const args = [...BASE_ARGS, fakeUI ? '--use-fake-ui-for-media-stream' : '--deny-permission-prompts'];
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport,
    locale,
    deviceScaleFactor: 1,
    isMobile: mobile,
    hasTouch: mobile,
  });
  context.setDefaultTimeout(15000);
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
  return { name, context, page, problems };
}

export function cleanupProfiles() {
  for (const d of profiles.splice(0)) rmSync(d, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// Assertions and evidence

// Polls fn until it returns a truthy value; throws with the last value seen.
export async function waitFor(fn, { timeout = 15000, interval = 250, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${message}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await sleep(interval);
  }
}

let shotNo = 0;
export async function shot(page, name) {
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `${String(++shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// The tile of a user on a page's stage (by display name), with what its
// <video> is doing: frames decoded so far, its size, whether it is muted.
export async function tileInfo(page, displayName) {
  return page.evaluate((name) => {
    const tile = Array.from(document.querySelectorAll('#stage .tile'))
      .find((t) => t.querySelector('.name')?.textContent === name);
    if (!tile) return null;
    const v = tile.querySelector('video');
    const q = v?.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    return {
      label: tile.querySelector('.name')?.textContent,
      role: tile.dataset.role,
      state: tile.dataset.state,
      frames: q ? q.totalVideoFrames : (v?.webkitDecodedFrameCount ?? 0),
      width: v?.videoWidth ?? 0,
      height: v?.videoHeight ?? 0,
      muted: v?.muted ?? null,
      paused: v?.paused ?? null,
    };
  }, displayName);
}

// Frames of a user's tile keep increasing: two samples a second apart.
export async function assertVideoFlowing(page, displayName, { timeout = 20000 } = {}) {
  let first = null;
  return waitFor(async () => {
    const a = await tileInfo(page, displayName);
    if (!a || a.width === 0) return false;
    await sleep(1000);
    const b = await tileInfo(page, displayName);
    if (!b) return false;
    first = first || a;
    return b.frames > a.frames + 2 ? { before: a.frames, after: b.frames, width: b.width, height: b.height } : false;
  }, { timeout, interval: 300, message: `video frames of "${displayName}" to increase` });
}

// The audio the page receives and plays: the subscriber PeerConnection's
// inbound audio energy (zero when the element playing it is muted).
export async function audioEnergy(page) {
  return page.evaluate(async () => {
    const pc = window.chobi?.live?.subscriber?.pc;
    if (!pc) return 0;
    const report = await pc.getStats();
    let energy = 0;
    report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') energy += s.totalAudioEnergy || 0; });
    return energy;
  });
}

export async function guestLogin(page, displayName) {
  await page.fill('#form-guest input[name=displayName]', displayName);
  await page.click('#form-guest button[type=submit]');
  await page.waitForSelector('#view-lobby:not([hidden])');
}

export async function setLanguage(page, lang) {
  const now = await page.evaluate(() => document.documentElement.lang);
  if (now !== lang) await page.click('#lang');
  await page.waitForFunction((l) => document.documentElement.lang === l, lang);
}

// Puts screenshots side by side into one PNG (for the README), drawn by the
// browser itself: no image library needed.
export async function composite(context, files, outFile, { scale = 0.7, gap = 16, background = '#0b0a10' } = {}) {
  const imgs = files.map((f) => `data:image/png;base64,${readFileSync(f).toString('base64')}`);
  const page = await context.newPage();
  try {
    await page.setContent(`<!doctype html><body style="margin:0;background:${background}">
      <div id="c" style="display:inline-flex;gap:${gap}px;padding:${gap}px;align-items:flex-start;background:${background}">
      ${imgs.map((src) => `<img src="${src}" style="zoom:${scale};border-radius:12px">`).join('')}</div></body>`);
    await page.waitForFunction(() => Array.from(document.images).every((i) => i.complete));
    await page.locator('#c').screenshot({ path: outFile });
  } finally {
    await page.close();
  }
  return outFile;
}
