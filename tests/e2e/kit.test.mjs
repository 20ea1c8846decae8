// The client kit's media client (clients/ts/client.js) in real Chromium
// against the real server binary: a host publishes the fake camera and
// mic through LiveSession.publish, a viewer receives both through
// LiveSession.join, labels them from the tracks message, decodes video,
// keeps decoding after the host restarts its ICE, and gets media again
// after its socket drops and reconnects.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Server, cleanupProfiles, launch, waitFor } from './lib.mjs';

const KIT = resolve(dirname(fileURLToPath(import.meta.url)), '../../clients/ts');

setTimeout(() => {
  console.error('# kit e2e watchdog: more than 3 minutes; exiting');
  process.exit(1);
}, 3 * 60 * 1000).unref();

const S = {};

// A page on the server's origin (so fetch and the socket are same-origin)
// that can import the kit from /__kit/.
async function kitPage(name) {
  const b = await launch(name);
  await b.page.route(`${S.server.url}/__kit/**`, (route) => {
    const file = new URL(route.request().url()).pathname.replace('/__kit/', '');
    route.fulfill({ status: 200, contentType: 'text/javascript', body: readFileSync(join(KIT, file)) });
  });
  await b.page.goto(`${S.server.url}/healthz`);
  await b.page.evaluate(async () => {
    window.kit = await import('/__kit/client.js');
    window.call = async (path, input, token) => {
      const r = await fetch(`/api/trpc/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(input ?? {}),
      });
      const body = await r.json();
      if (body.error) throw new Error(`${path}: ${body.error.message}`);
      return body.result.data;
    };
    // Opens a socket and a LiveSession on it, joined.
    window.live = async (wsUrl, token, sessionId) => {
      const socket = new window.kit.ChobiSocket({ url: wsUrl, token });
      window.received = [];
      window.tracksMessages = [];
      socket.on('tracks', (m) => window.tracksMessages.push(m));
      window.mediaFailed = [];
      const session = new window.kit.LiveSession({
        socket, sessionId, onTrack: (t) => window.received.push(t), onMediaFailed: (target) => window.mediaFailed.push(target),
      });
      await socket.open();
      window.session = session;
      window.socket = socket;
      return session.join();
    };
    // Video frames the subscriber PeerConnection decoded so far.
    window.framesDecoded = async () => {
      let n = 0;
      (await window.session.subscriber.pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0;
      });
      return n;
    };
  });
  return b;
}

before(async () => {
  S.server = await new Server().start();
  [S.host, S.viewer] = await Promise.all([kitPage('kit-host'), kitPage('kit-viewer')]);
});

after(async () => {
  for (const b of [S.host, S.viewer]) await b?.context.close().catch(() => {});
  await S.server?.stop?.();
  cleanupProfiles();
});

test('a host publishes through the kit and a viewer receives, labels and decodes it', { timeout: 90000 }, async () => {
  const session = await S.host.page.evaluate(async () => {
    const { token } = await window.call('auth.guest', { displayName: 'Kit host' });
    const s = await window.call('streaming.createSession', { title: 'Kit', type: 'video', category: 'test', isPrivate: false }, token);
    const joined = await window.live(s.wsUrl, token, s.id);
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
    await window.session.publish(stream.getTracks().map((track) => ({ track, stream })));
    return { id: s.id, wsUrl: s.wsUrl, role: joined.role };
  });
  assert.equal(session.role, 'host');

  const joined = await S.viewer.page.evaluate(async ({ id, wsUrl }) => {
    const { token } = await window.call('auth.guest', { displayName: 'Kit viewer' });
    return window.live(wsUrl, token, id);
  }, session);
  assert.equal(joined.role, 'viewer');
  assert.ok(Array.isArray(joined.iceServers));

  const got = await waitFor(() => S.viewer.page.evaluate(() => {
    const last = window.tracksMessages.at(-1);
    const listed = last ? last.participants.flatMap((p) => p.tracks) : [];
    const received = window.received.map((t) => ({ id: t.id, kind: t.kind }));
    const labelled = received.filter((r) => listed.some((l) => l.trackId === r.id && l.kind === r.kind));
    return labelled.length === 2 ? { received, listed } : null;
  }), { timeout: 20000, message: 'the viewer receives the audio and video the tracks message lists' });
  assert.deepEqual(got.received.map((r) => r.kind).sort(), ['audio', 'video']);
  assert.deepEqual(got.listed.find((t) => t.kind === 'video').layers, ['q', 'h', 'f']);

  await waitFor(() => S.viewer.page.evaluate(() => window.framesDecoded()).then((n) => n > 10),
    { timeout: 20000, message: 'the viewer decodes video' });

  // The host's audio is negotiated as Opus RED first (the kit orders the
  // codecs), and its Opus takes DTX from the answer (the kit marks it).
  const audio = await S.host.page.evaluate(() => {
    const sdp = window.session.publisher.pc.remoteDescription.sdp;
    const first = /^m=audio \S+ \S+ (\d+)/m.exec(sdp)[1];
    const codec = new RegExp(`^a=rtpmap:${first} ([^/]+)/`, 'm').exec(sdp)[1];
    const opus = /^a=rtpmap:(\d+) opus\//m.exec(sdp)[1];
    return { first: codec.toLowerCase(), opusDTX: new RegExp(`^a=fmtp:${opus} .*usedtx=1`, 'm').test(sdp) };
  });
  assert.deepEqual(audio, { first: 'red', opusDTX: true });

  // A network change: the host's publisher offers with new ICE credentials.
  const ufrags = await S.host.page.evaluate(async () => {
    const pc = window.session.publisher.pc;
    const ufrags = () => [pc.localDescription.sdp, pc.remoteDescription.sdp].map((sdp) => /a=ice-ufrag:(\S+)/.exec(sdp)[1]);
    const before = ufrags();
    await window.session.restartIce();
    return { before, after: ufrags() };
  });
  assert.notEqual(ufrags.after[0], ufrags.before[0], 'the restart offered new ICE credentials');
  assert.notEqual(ufrags.after[1], ufrags.before[1], "the server's answer restarted its ICE too");
  const decoded = await S.viewer.page.evaluate(() => window.framesDecoded());
  await waitFor(() => S.viewer.page.evaluate(() => window.framesDecoded()).then((n) => n > decoded + 10),
    { timeout: 20000, message: 'video goes on after the host restarts ICE' });
  const trackCount = await S.viewer.page.evaluate(() => window.received.length);
  assert.equal(trackCount, 2, 'the restart made no new tracks');

  // The viewer's network changes: restart_ice brings a subscribe_offer with
  // new server credentials, answered on the same connection and tracks.
  const subUfrags = await S.viewer.page.evaluate(async () => {
    const pc = window.session.subscriber.pc;
    const ufrag = () => /a=ice-ufrag:(\S+)/.exec(pc.remoteDescription.sdp)[1];
    const before = ufrag();
    await window.session.restartIce();
    const deadline = Date.now() + 10000;
    while (ufrag() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return { before, after: ufrag(), state: pc.signalingState };
  });
  assert.notEqual(subUfrags.after, subUfrags.before, "the server's subscriber offer restarted ICE");
  const decodedAgain = await S.viewer.page.evaluate(() => window.framesDecoded());
  await waitFor(() => S.viewer.page.evaluate(() => window.framesDecoded()).then((n) => n > decodedAgain + 10),
    { timeout: 20000, message: "video goes on after the viewer's ICE restart" });
  assert.equal(await S.viewer.page.evaluate(() => window.received.length), 2, "the viewer's restart made no new tracks");

  // The viewer's connection stops answering: the socket reconnects, the
  // session is joined again and new PeerConnections bring the media back.
  const oldSubscriber = await S.viewer.page.evaluate(() => {
    window.oldSubscriber = window.session.subscriber;
    window.socket.drop();
    return window.socket.state;
  });
  assert.equal(oldSubscriber, 'reconnecting');
  await waitFor(() => S.viewer.page.evaluate(() => window.socket.state === 'open' && window.session.subscriber
    && window.session.subscriber !== window.oldSubscriber && window.received.length >= 4),
  { timeout: 20000, message: 'the viewer rejoins and receives the tracks again' });
  await waitFor(() => S.viewer.page.evaluate(() => window.framesDecoded()).then((n) => n > 10),
    { timeout: 20000, message: 'the viewer decodes video again after reconnecting' });
  assert.deepEqual(await S.viewer.page.evaluate(() => window.mediaFailed), ['socket']);
  assert.equal(await S.viewer.page.evaluate(() => window.oldSubscriber.pc.connectionState), 'closed');

  for (const b of [S.host, S.viewer]) assert.deepEqual(b.problems, [], `${b.name}'s page errors`);
});
