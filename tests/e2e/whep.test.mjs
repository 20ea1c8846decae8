// WHIP and WHEP in real Chromium (issue 19): one Chromium publishes its fake
// camera and microphone over WHIP (a plain page script: POST the offer with
// the host's token, apply the answer), another watches over WHEP as the
// docs/operations.md player does, and its own getStats must report decoded
// video frames and received audio. Then DELETE ends the publication.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Server, cleanupProfiles, launch, waitFor } from './lib.mjs';

setTimeout(() => {
  console.error('# whep e2e watchdog: the run took more than 2 minutes; exiting');
  process.exit(1);
}, 2 * 60 * 1000).unref();

const S = {};

before(async () => {
  S.server = await new Server().start();
  [S.pub, S.view] = await Promise.all([launch('whip-pub'), launch('whep-view')]);
  // 404s the pages saw, by URL: the only one allowed is /healthz's favicon.
  S.notFound = [];
  for (const b of [S.pub, S.view]) b.page.on('response', (r) => { if (r.status() === 404) S.notFound.push(r.url()); });
  // Same origin as the endpoints: no CORS in the way (production needs CORS_ORIGINS).
  await Promise.all([S.pub, S.view].map((b) => b.page.goto(`${S.server.url}/healthz`)));
}, { timeout: 60000 });

after(async () => {
  for (const b of [S.pub, S.view]) {
    try { await b?.context.close(); } catch { /* gone */ }
  }
  await S.server?.stop();
  cleanupProfiles();
}, { timeout: 30000 });

// The whole answer gathered (the server does not trickle; the page does not either).
const GATHER = `(pc) => new Promise((r) => {
  if (pc.iceGatheringState === 'complete') return r();
  pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r());
})`;

test('Chromium publishes over WHIP and another Chromium watches over WHEP', { timeout: 90000 }, async () => {
  const guest = await S.server.trpc('mutation', 'auth.guest', { displayName: 'WHIP host' });
  assert.equal(guest.status, 200, JSON.stringify(guest.body));
  const token = guest.body.result.data.token;

  const published = await S.pub.page.evaluate(async ({ token, GATHER }) => {
    const gather = eval(GATHER);
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    const pc = new RTCPeerConnection();
    for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gather(pc);
    const res = await fetch('/whip', { method: 'POST', body: pc.localDescription.sdp,
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` } });
    const body = await res.text();
    if (res.status !== 201) return { status: res.status, body };
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    window.whip = { pc, location: res.headers.get('Location') };
    return { status: res.status, location: res.headers.get('Location') };
  }, { token, GATHER });
  assert.equal(published.status, 201, published.body);

  const live = await S.server.trpc('query', 'streaming.getActiveSessions', { type: 'all', limit: 10 });
  const session = live.body.result.data.find((s) => s.hostId === guest.body.result.data.user.id);
  assert.ok(session, 'WHIP started a session for the host');
  assert.equal(session.title, 'Live');

  // WHEP before the host's tracks arrive answers 503: retry as a player does.
  const watched = await S.view.page.evaluate(async ({ sessionId, token, GATHER }) => {
    const gather = eval(GATHER);
    for (let i = 0; i < 60; i++) {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const video = document.createElement('video');
      video.muted = true; video.autoplay = true; document.body.append(video);
      pc.ontrack = (e) => { video.srcObject = e.streams[0] ?? new MediaStream([e.track]); };
      await pc.setLocalDescription(await pc.createOffer());
      await gather(pc);
      const res = await fetch(`/whep/${sessionId}`, { method: 'POST', body: pc.localDescription.sdp,
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` } });
      if (res.status === 503) { pc.close(); video.remove(); await new Promise((r) => setTimeout(r, 500)); continue; }
      const body = await res.text();
      if (res.status !== 201) return { status: res.status, body };
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      window.whep = { pc, video };
      return { status: 201 };
    }
    return { status: 503, body: 'never published' };
  }, { sessionId: session.id, token: (await S.server.trpc('mutation', 'auth.guest', { displayName: 'WHEP viewer' })).body.result.data.token, GATHER });
  assert.equal(watched.status, 201, watched.body);

  const stats = () => S.view.page.evaluate(async () => {
    const out = { frames: 0, width: 0, audioPackets: 0 };
    (await window.whep.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') { out.frames = s.framesDecoded || 0; out.width = s.frameWidth || 0; }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audioPackets = s.packetsReceived || 0;
    });
    return out;
  });
  await waitFor(async () => { const s = await stats(); return s.frames > 30 && s.audioPackets > 50 && s.width > 0; },
    { timeout: 40000, message: 'the WHEP viewer decodes video and receives audio' });

  const deleted = await S.pub.page.evaluate(async ({ token }) => {
    const res = await fetch(window.whip.location, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    window.whip.pc.close();
    return res.status;
  }, { token });
  assert.equal(deleted, 200);
  const after = await S.server.trpc('query', 'streaming.getActiveSessions', { type: 'all', limit: 10 });
  assert.ok(!after.body.result.data.some((s) => s.id === session.id), 'DELETE of the only publication ended the session');
  assert.ok(S.notFound.every((u) => u.endsWith('/favicon.ico')), `404s: ${S.notFound}`);
  const favicon = 'console.error: Failed to load resource: the server responded with a status of 404 (Not Found)';
  for (const b of [S.pub, S.view]) assert.deepEqual(b.problems.filter((p) => p !== favicon), []);
});
