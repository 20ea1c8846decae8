// Debian's simple-whip-client in front of the demo page (issue 19): the
// GStreamer WHIP client publishes test video and audio with a host's stream
// key, and a viewer in Chromium, on the demo page, finds the session in the
// lobby and sees its frames on the host's tile. Debian 12's whip-client
// needs the libsoup shim the Go test builds (web/whip/testdata/soupshim.c),
// and libnice gathers no loopback candidates, so the SFU listens on this
// machine's own address.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Server, assertVideoFlowing, cleanupProfiles, guestLogin, launch, waitFor } from './lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WHIP_CLIENT = '/usr/bin/whip-client';
const HOST = 'OBS Host';
const AUDIO = 'audiotestsrc is-live=true wave=red-noise ! audioconvert ! audioresample ! queue ! opusenc ! rtpopuspay pt=100 ssrc=1 ! queue ! application/x-rtp,media=audio,encoding-name=OPUS,payload=100';
const VIDEO = 'videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! queue ! vp8enc deadline=1 ! rtpvp8pay pt=96 ssrc=2 ! queue ! application/x-rtp,media=video,encoding-name=VP8,payload=96';

setTimeout(() => {
  console.error('# whip-client e2e watchdog: the run took more than 2 minutes; exiting');
  process.exit(1);
}, 2 * 60 * 1000).unref();

// What this test needs and the machine may lack: skipped loudly, or failed
// under CHOBI_REQUIRE_SERVICES=1.
function missing() {
  if (!existsSync(WHIP_CLIENT)) return 'whip-client (Debian package simple-whip-client) is not installed';
  try { execFileSync('cc', ['--version'], { stdio: 'ignore' }); } catch { return 'no C compiler (cc) for the libsoup shim'; }
  if (!hostAddress()) return 'this machine has no non-loopback IPv4 address for libnice to reach';
  return '';
}

function hostAddress() {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) return a.address;
  }
  return '';
}

const S = {};
const why = missing();
if (why && process.env.CHOBI_REQUIRE_SERVICES === '1') throw new Error(`whip-client e2e: ${why} (CHOBI_REQUIRE_SERVICES=1)`);

before(async () => {
  if (why) return;
  S.dir = mkdtempSync(join(tmpdir(), 'chobi-whipclient-'));
  S.shim = join(S.dir, 'soupshim.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', S.shim, resolve(HERE, '../../web/whip/testdata/soupshim.c'), '-ldl']);
  S.server = await new Server().start({ RTC_UDP_HOST: hostAddress() });
  S.viewer = await launch('whip-client-viewer');
}, { timeout: 60000 });

after(async () => {
  try { S.client?.kill('SIGKILL'); } catch { /* gone */ }
  try { await S.viewer?.context.close(); } catch { /* gone */ }
  await S.server?.stop();
  if (S.dir) rmSync(S.dir, { recursive: true, force: true });
  cleanupProfiles();
}, { timeout: 30000 });

test('whip-client publishes and the demo page shows its frames', { timeout: 90000, skip: why ? `SKIPPED LOUDLY: ${why}` : false }, async () => {
  const guest = await S.server.trpc('mutation', 'auth.guest', { displayName: HOST });
  assert.equal(guest.status, 200, JSON.stringify(guest.body));
  const key = await S.server.trpc('query', 'streaming.getStreamKey', undefined, guest.body.result.data.token);
  assert.equal(key.status, 200, JSON.stringify(key.body));

  let output = '';
  S.client = spawn(WHIP_CLIENT, ['-u', `${S.server.url}/whip`, '-t', key.body.result.data.streamKey, '-A', AUDIO, '-V', VIDEO, '-l', '5', '-o'],
    { env: { ...process.env, LD_PRELOAD: S.shim }, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [S.client.stdout, S.client.stderr]) s.on('data', (d) => { output = (output + d).slice(-4000); });

  const page = S.viewer.page;
  await page.goto(`${S.server.url}/`);
  await guestLogin(page, 'Viewer');
  const card = page.locator('.session-item', { hasText: HOST });
  await waitFor(() => card.count(), { timeout: 30000, message: `whip-client's session in the lobby (whip-client said: ${output})` });
  await card.locator('.session-card').click();
  await page.waitForSelector('#view-session:not([hidden])');
  const seen = await assertVideoFlowing(page, HOST, { timeout: 30000 });
  assert.ok(seen.width === 320 && seen.height === 240, `the host's tile shows ${seen.width}x${seen.height}, want whip-client's 320x240`);
  assert.equal(S.client.exitCode, null, `whip-client exited: ${output}`);
});
