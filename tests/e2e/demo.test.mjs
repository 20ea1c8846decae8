// The demo page (web/demo) in real Chromium against the real server binary.
// One live session, step by step: a host (desktop, English) goes live, a
// viewer (phone-sized, Arabic) watches, chats and sends a rose, a second user
// (desktop, English) joins the stage, the viewer's socket blips, the host
// removes the co-host and ends the session. Then a browser that refuses the
// camera. Screenshots of each step go to tests/e2e/output/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { join } from 'node:path';

import {
  OUT_DIR, Server, assertVideoFlowing, audioEnergy, cleanupProfiles, composite, guestLogin, launch, setLanguage, shot,
  sleep, tileInfo, waitFor,
} from './lib.mjs';

const HOST = 'Hana';
const VIEWER = 'سارة';
const COHOST = 'عمر';
const TITLE = 'Evening live · بث مسائي';
const ARABIC_MESSAGE = 'مرحبًا يا هناء، البث رائع!';
const HTML_MESSAGE = '<img src=x onerror="window.__xss=1"><b>bold?</b>';

// Whatever happens, the run ends (Playwright and lib.mjs kill the browsers
// and the server on exit).
setTimeout(() => {
  console.error('# e2e watchdog: the run took more than 8 minutes; exiting');
  process.exit(1);
}, 8 * 60 * 1000).unref();

const S = {}; // shared between the steps
const started = Date.now();
const stepTimes = [];

const STEP_TIMEOUT_MS = 120000; // a hung browser fails its step instead of the whole run

function step(name, fn) {
  test(name, { timeout: STEP_TIMEOUT_MS }, async (t) => {
    const t0 = Date.now();
    try {
      await fn(t);
    } catch (e) {
      // Evidence for a failure: a screenshot of every page and the pages' errors.
      for (const b of [S.host, S.viewer, S.cohost]) {
        if (!b) continue;
        try { await shot(b.page, `FAILED-${b.name}`); } catch { /* closed */ }
        if (b.problems.length) console.log(`# ${b.name} page problems:\n#   ${b.problems.slice(-10).join('\n#   ')}`);
      }
      if (S.server) console.log(`# server log (tail):\n${S.server.logTail(25)}`);
      throw e;
    } finally {
      stepTimes.push(`${name.split(' ')[0]} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
  });
}

function needs(t, ...flags) {
  const missing = flags.filter((f) => !S[f]);
  if (missing.length) {
    t.skip(`an earlier step failed (${missing.join(', ')})`);
    return false;
  }
  return true;
}

before(async () => {
  S.server = await new Server().start();
  [S.host, S.viewer, S.cohost] = await Promise.all([
    launch('host', { viewport: { width: 1280, height: 800 } }),
    launch('viewer', { viewport: { width: 390, height: 844 }, mobile: true }),
    launch('cohost', { viewport: { width: 1100, height: 760 } }),
  ]);
  // What the viewer's page sends on its socket, and quiet errors it logs.
  S.viewerFrames = [];
  S.viewerSocketErrors = [];
  S.viewer.page.on('websocket', (ws) => ws.on('framesent', (f) => {
    try { S.viewerFrames.push(JSON.parse(String(f.payload))); } catch { /* not JSON */ }
  }));
  S.viewer.page.on('console', (m) => { if (m.type() === 'warning' && m.text().startsWith('socket:')) S.viewerSocketErrors.push(m.text()); });
  await Promise.all([S.host, S.viewer, S.cohost].map((b) => b.page.goto(`${S.server.url}/`)));
}, { timeout: 90000 });

after(async () => {
  for (const b of [S.host, S.viewer, S.cohost, S.denied]) {
    try { await b?.context.close(); } catch { /* gone */ }
  }
  await S.server?.stop();
  cleanupProfiles();
  console.log(`# steps: ${stepTimes.join(', ')}; total ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(`# screenshots: ${OUT_DIR}`);
}, { timeout: 60000 });

step('1. the page speaks English and Arabic (right to left) and fits a phone', async () => {
  const p = S.viewer.page;
  await p.waitForSelector('#view-login:not([hidden])');
  // The browser's locale is en-US: English, left to right.
  assert.deepEqual(await p.evaluate(() => [document.documentElement.lang, document.documentElement.dir]), ['en', 'ltr']);
  assert.equal(await p.textContent('#view-login h1'), 'Welcome to Chobi Live');
  await shot(p, 'login-en-phone');

  await setLanguage(p, 'ar');
  assert.equal(await p.evaluate(() => document.documentElement.dir), 'rtl');
  assert.equal(await p.textContent('#view-login h1'), 'أهلًا بك في تشوبي لايف');
  assert.equal(await p.textContent('#form-guest button[type=submit]'), 'المتابعة كضيف');
  // Laid out right to left: the first tab is the rightmost.
  const [guestTab, loginTab] = await Promise.all(['guest', 'login'].map((k) => p.locator(`[data-auth-tab=${k}]`).boundingBox()));
  assert.ok(guestTab.x > loginTab.x, `RTL: the first tab should be right of the second (${guestTab.x} vs ${loginTab.x})`);
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
  await shot(p, 'login-ar-phone');

  // The choice survives a reload.
  await p.reload();
  await p.waitForSelector('#view-login:not([hidden])');
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'ar');

  await guestLogin(p, VIEWER);
  assert.equal(await p.textContent('#view-lobby h1'), 'مباشر الآن');
  assert.equal(await p.textContent('#me-name'), VIEWER);
  await p.waitForSelector('#sessions-empty:not([hidden])');
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'lobby fits the phone');
  await shot(p, 'lobby-empty-ar-phone');

  // Back to English and to Arabic again, on the lobby.
  await setLanguage(p, 'en');
  assert.equal(await p.textContent('#view-lobby h1'), 'Live now');
  await setLanguage(p, 'ar');
  S.viewerId = await p.evaluate(() => window.chobi.me.id);
  S.langs = true;
});

step('2. a host goes live with the fake camera; a viewer sees the video and hears the audio', async (t) => {
  const host = S.host.page, viewer = S.viewer.page, cohost = S.cohost.page;
  await Promise.all([guestLogin(host, HOST), guestLogin(cohost, COHOST)]);
  if (!S.langs) await guestLogin(viewer, VIEWER).catch(() => {});
  S.hostId = await host.evaluate(() => window.chobi.me.id);
  S.cohostId = await cohost.evaluate(() => window.chobi.me.id);

  await host.fill('#form-golive input[name=title]', TITLE);
  await host.selectOption('#form-golive select[name=category]', 'music');
  await host.check('#form-golive input[name=type][value=video]');
  await host.click('#form-golive button[type=submit]');
  await host.waitForSelector('#view-session:not([hidden])');
  await host.waitForSelector('#end:not([hidden])');
  // The host's own tile (its camera) is on the stage, labelled.
  const own = await assertVideoFlowing(host, HOST);
  t.diagnostic(`host preview ${own.width}x${own.height}`);

  // Simulcast: three encodings q, h, f on the camera's sender.
  const rids = await host.evaluate(() => window.chobi.live.publisher.pc.getSenders()
    .filter((s) => s.track?.kind === 'video')
    .flatMap((s) => s.getParameters().encodings.map((e) => e.rid)));
  assert.deepEqual(rids, ['q', 'h', 'f']);

  // The lobbies refresh by themselves: the new session appears without a reload.
  for (const p of [viewer, cohost]) {
    await waitFor(() => p.locator('.session-card .title', { hasText: 'Evening live' }).count(), { timeout: 10000, message: 'the session in the lobby' });
  }
  const card = viewer.locator('.session-item', { hasText: 'Evening live' });
  assert.equal(await card.locator('.host').textContent(), HOST);
  await shot(viewer, 'lobby-live-ar-phone');

  await card.locator('.session-card').click();
  await viewer.waitForSelector('#view-session:not([hidden])');
  const seen = await assertVideoFlowing(viewer, HOST);
  t.diagnostic(`viewer sees ${seen.width}x${seen.height}, frames ${seen.before} → ${seen.after}`);
  const energy = await waitFor(async () => { const e = await audioEnergy(viewer); return e > 0 ? e : false; },
    { timeout: 15000, message: 'audio energy > 0 at the viewer' });
  t.diagnostic(`viewer audio energy ${energy.toFixed(4)}`);
  const tile = await tileInfo(viewer, HOST);
  assert.equal(tile.muted, false, 'the viewer plays the host unmuted');
  assert.equal(tile.role, 'host');
  // The track picture says which layers the host offers.
  const layers = await viewer.evaluate(() => window.chobi.live.stage.flatMap((p) => p.tracks).find((tr) => tr.kind === 'video')?.layers);
  assert.deepEqual(layers, ['q', 'h', 'f']);

  // The speaking indicator: the fake mic beeps, so the host's tile lights up.
  await waitFor(() => viewer.locator('#stage .tile.speaking .name', { hasText: HOST }).count(),
    { timeout: 10000, message: 'the speaking indicator on the host tile' });

  // Viewer counts: on both pages, and in the other user's lobby.
  await host.waitForSelector('#s-viewers[data-value="1"]');
  await viewer.waitForSelector('#s-viewers[data-value="1"]');
  await waitFor(async () => (await cohost.locator('.session-item', { hasText: 'Evening live' }).locator('.viewers').getAttribute('data-value')) === '1',
    { timeout: 10000, message: 'viewer count 1 in the lobby' });
  await shot(host, 'host-live-en');
  await shot(viewer, 'viewer-watching-ar-phone');
  await shot(cohost, 'lobby-en');
  S.live = true;
});

step('3. the viewer sends an Arabic chat message and a rose; the host sees both; the balance drops', async (t) => {
  if (!needs(t, 'live')) return;
  const host = S.host.page, viewer = S.viewer.page;

  await viewer.fill('#chat-input', ARABIC_MESSAGE);
  await viewer.press('#chat-input', 'Enter');
  const line = host.locator('#chat li.msg', { hasText: ARABIC_MESSAGE });
  await line.waitFor();
  assert.equal(await line.locator('.author').textContent(), VIEWER);
  assert.equal(await line.locator('.text').textContent(), ARABIC_MESSAGE);
  // In the English page the Arabic message still runs right to left.
  assert.equal(await line.locator('.text').evaluate((el) => getComputedStyle(el).direction), 'rtl');
  assert.equal(await line.locator('.author').evaluate((el) => getComputedStyle(el).direction), 'rtl');

  // Text that looks like HTML stays text.
  await viewer.fill('#chat-input', HTML_MESSAGE);
  await viewer.click('#chat-send');
  const raw = host.locator('#chat li.msg', { hasText: 'bold?' });
  await raw.waitFor();
  assert.equal(await raw.locator('.text').textContent(), HTML_MESSAGE);
  assert.equal(await host.locator('#chat img, #chat b').count(), 0, 'no element made from chat text');
  assert.equal(await host.evaluate(() => window.__xss), undefined);
  await viewer.locator('#chat li.msg', { hasText: ARABIC_MESSAGE }).waitFor();

  // Gifts: only once the economy is served (gifts.getAvailableGifts).
  const probe = await S.server.trpc('query', 'gifts.getAvailableGifts');
  const giftsServed = probe.status === 200 && Array.isArray(probe.body?.result?.data);
  await viewer.click('[data-panel=gifts]');
  if (!giftsServed) {
    console.log([
      '#',
      '# !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '# !!  GIFT PART NOT TESTED: this server does not serve gifts.getAvailableGifts  !!',
      `# !!  (HTTP ${probe.status}: ${String(probe.body?.error?.message || '').slice(0, 60)})`,
      '# !!  The rose, the gift animation and the balance drop were NOT checked.      !!',
      '# !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '#',
    ].join('\n'));
    // The page says so clearly instead of failing.
    await viewer.waitForSelector('#gift-note[data-state="missing"]:not([hidden])');
    assert.equal(await viewer.textContent('#gift-note'), 'الهدايا غير متاحة على هذا الخادم بعد.');
    await shot(viewer, 'gifts-unavailable-ar-phone');
    await shot(host, 'host-chat-en');
    t.diagnostic('GIFTS NOT TESTED: gifts.getAvailableGifts is not served');
    S.gifts = false;
    S.chat = true;
    return;
  }

  S.gifts = true;
  const gifts = probe.body.result.data;
  const rose = gifts.find((g) => g.id === 'gift_rose') || gifts.find((g) => /rose/i.test(`${g.id} ${g.name}`));
  assert.ok(rose, `a rose among the gifts (${gifts.map((g) => g.id).join(', ')})`);
  const btn = viewer.locator(`.gift[data-gift-id="${rose.id}"]`);
  await btn.waitFor();
  const balance = async () => {
    const v = await viewer.getAttribute('#balance', 'data-value');
    return v === '' || v === null ? null : Number(v);
  };
  let before = await waitFor(async () => { const b = await balance(); return b === null ? false : { b }; }, { message: 'the balance' }).then((x) => x.b);
  if (before < rose.price) {
    await viewer.click('#topup'); // development mode: credits coins at once
    await waitFor(async () => (await balance()) > before, { message: 'the balance to grow after a top-up' });
    before = await balance();
  }
  await shot(viewer, 'gift-picker-ar-phone');
  await btn.click();
  const anim = host.locator(`#gift-layer .gift-anim[data-gift-id="${rose.id}"][data-sender-id="${S.viewerId}"]`);
  await anim.waitFor({ timeout: 10000 });
  assert.ok((await anim.textContent()).includes(VIEWER), 'the animation names the sender');
  await sleep(700); // the animation at its full size
  await shot(host, 'host-gift-animation-en');
  await waitFor(async () => (await balance()) === before - rose.price, { message: `balance ${before} - ${rose.price}` });
  t.diagnostic(`rose price ${rose.price}; balance ${before} → ${before - rose.price}`);
  S.chat = true;
});

step('4. a second user asks to co-host, the host accepts, the viewer sees both on stage, labelled', async (t) => {
  if (!needs(t, 'live')) return;
  const host = S.host.page, viewer = S.viewer.page, cohost = S.cohost.page;
  const t0 = Date.now();
  const mark = (what) => t.diagnostic(`${what} at ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  await cohost.locator('.session-item', { hasText: 'Evening live' }).locator('.session-card').click();
  await cohost.waitForSelector('#view-session:not([hidden])');
  await assertVideoFlowing(cohost, HOST);
  await cohost.click('#cohost-btn');
  await waitFor(async () => (await cohost.textContent('#cohost-btn')) === 'Request sent…', { message: 'the request to be sent' });

  const req = host.locator(`#request-list li[data-user-id="${S.cohostId}"]`);
  await req.waitFor();
  assert.ok((await req.textContent()).includes(COHOST));
  await shot(host, 'host-cohost-request-en');
  mark('request shown to the host');
  await req.locator('.accept').click();

  await cohost.waitForSelector('#cohost-btn', { state: 'hidden' });
  await assertVideoFlowing(cohost, COHOST); // its own camera on its stage
  mark('co-host publishing');
  // The viewer's stage: the host and the co-host, each with a name and a role.
  await waitFor(async () => (await viewer.locator('#stage .tile').count()) === 2, { message: 'two tiles at the viewer' });
  const a = await assertVideoFlowing(viewer, HOST);
  mark('host flowing at the viewer');
  const b = await assertVideoFlowing(viewer, COHOST);
  mark('co-host flowing at the viewer');
  t.diagnostic(`viewer: ${HOST} ${a.width}x${a.height}, ${COHOST} ${b.width}x${b.height}`);
  const labels = await viewer.$$eval('#stage .tile', (tiles) => tiles.map((el) => [el.querySelector('.name').textContent, el.querySelector('.role').textContent]));
  assert.deepEqual(labels, [[HOST, 'المضيف'], [COHOST, 'مضيف مشارك']]);
  await assertVideoFlowing(host, COHOST);
  assert.ok(await viewer.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the stage fits the phone');
  if (S.gifts) {
    // One more gift, a heart for the co-host, so the pictures show an animation.
    await viewer.selectOption('#gift-recipient', S.cohostId);
    await viewer.click('.gift[data-gift-id="gift_heart"]');
    await host.locator('#gift-layer .gift-anim[data-gift-id="gift_heart"]').waitFor();
    await viewer.locator('#gift-layer .gift-anim[data-gift-id="gift_heart"]').waitFor();
    // Hold the animations at full size for the pictures, however slow the machine.
    for (const p of [host, viewer]) {
      await p.evaluate(() => document.getAnimations().filter((a) => a.effect?.target?.classList?.contains('gift-anim'))
        .forEach((a) => { a.pause(); a.currentTime = 1500; }));
    }
  } else {
    await sleep(500);
  }
  const shots = [await shot(host, 'host-stage-two-en'), await shot(viewer, 'viewer-stage-two-ar-phone')];
  await shot(cohost, 'cohost-on-stage-en');
  // The README's picture: the host's desktop page (English) beside the viewer's phone (Arabic).
  await composite(S.host.context, shots, join(OUT_DIR, 'demo.png'), { scale: 0.75 });
  S.stage = true;
});

step('5. after a network blip the viewer, then the host, reconnect and get their place and the media back', async (t) => {
  if (!needs(t, 'live')) return;
  const host = S.host.page, viewer = S.viewer.page;
  const t0 = Date.now();
  const mark = (what) => t.diagnostic(`${what} at ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  const joins = await viewer.evaluate(() => window.chobi.live.joins);
  await viewer.evaluate(() => window.chobi.live.socket.drop()); // the socket closes as a network failure would
  await viewer.waitForSelector('#banner[data-state="reconnecting"]', { state: 'attached' });
  await waitFor(() => viewer.evaluate((j) => window.chobi.live.joins > j, joins), { message: 'join_session again' });
  mark('joined again');
  await viewer.waitForSelector('#banner', { state: 'hidden' });
  await viewer.waitForSelector('#view-session:not([hidden])');
  await assertVideoFlowing(viewer, HOST, { timeout: 30000 });
  mark('host video back');
  if (S.stage) {
    await assertVideoFlowing(viewer, COHOST, { timeout: 30000 });
    mark('co-host video back');
  }
  // Within the grace period the viewer never left: still one viewer.
  assert.equal(await host.getAttribute('#s-viewers', 'data-value'), '1');
  // And the chat still works.
  await viewer.click('[data-panel=chat]');
  await viewer.fill('#chat-input', 'عدت!');
  await viewer.press('#chat-input', 'Enter');
  await host.locator('#chat li.msg', { hasText: 'عدت!' }).waitFor();
  await shot(viewer, 'viewer-after-reconnect-ar-phone');

  // The host's socket blips too: it rejoins and publishes again, and the
  // viewer gets the new tracks.
  const hostJoins = await host.evaluate(() => window.chobi.live.joins);
  const tracksBefore = await viewer.evaluate(() => window.chobi.live.trackEvents);
  await host.evaluate(() => window.chobi.live.socket.drop());
  await waitFor(() => host.evaluate((j) => window.chobi.live.joins > j, hostJoins), { message: 'the host joins again' });
  mark('host joined again');
  await waitFor(() => viewer.evaluate((n) => window.chobi.live.trackEvents > n, tracksBefore), { timeout: 20000, message: 'new tracks at the viewer' });
  await assertVideoFlowing(viewer, HOST, { timeout: 30000 });
  mark('host video back after its own blip');
  await host.waitForSelector('#view-session:not([hidden])');
  assert.equal(await host.locator('#end').isVisible(), true, 'still the host');
});

step('6. the host removes the co-host', async (t) => {
  if (!needs(t, 'live', 'stage')) return;
  const host = S.host.page, viewer = S.viewer.page, cohost = S.cohost.page;
  await host.click('[data-panel=people]');
  const row = host.locator(`#people li[data-user-id="${S.cohostId}"]`);
  await row.waitFor();
  await shot(host, 'host-people-en');
  await row.locator('button.remove').click();
  await cohost.waitForSelector('#view-ended:not([hidden])');
  assert.equal(await cohost.textContent('#ended-title'), 'You were removed from this session');
  await waitFor(async () => (await viewer.locator('#stage .tile').count()) === 1, { message: 'one tile left at the viewer' });
  assert.equal(await tileInfo(viewer, COHOST), null);
  await shot(cohost, 'cohost-removed-en');
  await host.click('[data-panel=chat]');
});

step('7. the stats overlay reads getStats and the quality selector picks a layer', async (t) => {
  if (!needs(t, 'live')) return;
  const viewer = S.viewer.page;
  const stats = (name) => viewer.evaluate((n) => {
    const tile = Array.from(document.querySelectorAll('#stage .tile')).find((el) => el.querySelector('.name').textContent === n);
    const s = tile?.querySelector('.stats');
    return s && !s.hidden ? { ...s.dataset, text: s.textContent } : null;
  }, name);
  const first = await waitFor(async () => {
    const s = await stats(HOST);
    return s && Number(s.width) > 0 && Number(s.kbps) > 0 && s.rtt !== '' ? s : false;
  }, { message: 'resolution, bitrate and RTT in the overlay' });
  assert.match(first.text, /\d+×\d+/);
  assert.match(first.text, /\d+(\.\d)?%/);
  t.diagnostic(`overlay: ${first.text}`);

  // The quality wish goes to the server as set_quality for the host's video
  // track; the server may still send less than wished (bandwidth), never more.
  const hostVideo = await viewer.evaluate(() => window.chobi.live.stage.find((p) => p.role === 'host')
    .tracks.find((tr) => tr.kind === 'video').trackId);
  const sentQuality = (q) => S.viewerFrames.some((f) => f.type === 'set_quality' && f.quality === q && f.trackId === hostVideo);
  // With the co-host gone there is CPU and bandwidth to spare: wait for auto
  // to climb above the low layer, so that choosing "low" visibly changes it.
  const climbed = await waitFor(async () => {
    const info = await tileInfo(viewer, HOST);
    return info && info.height > 200 ? info : false;
  }, { timeout: 20000, message: 'auto above the low layer' }).catch(() => null);
  await viewer.selectOption('#quality', 'low');
  await waitFor(() => sentQuality('low'), { timeout: 5000, message: 'set_quality low on the wire' });
  const low = await waitFor(async () => {
    const info = await tileInfo(viewer, HOST);
    const s = await stats(HOST);
    return info && info.height > 0 && info.height <= 200 && s && Number(s.height) <= 200 ? { info, s } : false;
  }, { timeout: 15000, message: 'the low layer (≤ 200 lines)' });
  if (climbed) {
    t.diagnostic(`auto ${climbed.width}x${climbed.height} → low ${low.info.width}x${low.info.height}`);
  } else {
    t.diagnostic(`auto never climbed above the low layer within 20 s (bandwidth estimate): only the set_quality message and the low layer were checked (${low.info.width}x${low.info.height})`);
  }
  await shot(viewer, 'viewer-quality-low-ar-phone');
  await viewer.selectOption('#quality', 'medium');
  await waitFor(() => sentQuality('medium'), { timeout: 5000, message: 'set_quality medium on the wire' });
  await sleep(1500);
  const medium = await tileInfo(viewer, HOST);
  assert.ok(medium.height <= 400, `medium is at most the h layer (${medium.width}x${medium.height})`);
  assert.deepEqual(S.viewerSocketErrors, [], 'no error answered a set_quality');
  await viewer.selectOption('#quality', 'auto');
  S.quality = true;
});

step('8. the host ends the session; the viewer sees the ended screen with the stats', async (t) => {
  if (!needs(t, 'live')) return;
  const host = S.host.page, viewer = S.viewer.page;
  await host.click('#end');
  assert.equal(await host.textContent('#end'), 'Tap again to end');
  await host.click('#end');
  await host.waitForSelector('#view-ended:not([hidden])');
  assert.equal(await host.textContent('#ended-title'), 'Your live session has ended');
  await viewer.waitForSelector('#view-ended:not([hidden])');
  assert.equal(await viewer.textContent('#ended-title'), 'انتهى هذا البث المباشر');
  const read = (p) => p.$$eval('#ended-stats .stat', (els) => Object.fromEntries(els.map((el) => [el.dataset.stat, Number(el.dataset.value)])));
  const [hs, vs] = [await read(host), await read(viewer)];
  t.diagnostic(`host: ${JSON.stringify(hs)}`);
  t.diagnostic(`viewer: ${JSON.stringify(vs)}`);
  for (const s of [hs, vs]) {
    assert.deepEqual(Object.keys(s).sort(), ['coinsEarned', 'duration', 'giftsReceived', 'messages', 'peakViewers', 'totalViewers']);
    assert.ok(s.duration >= 1, 'duration');
    assert.ok(s.messages >= 3, 'three chat messages');
    assert.ok(s.peakViewers >= 1 && s.totalViewers >= (S.stage ? 2 : 1), 'viewers');
    if (S.gifts) assert.ok(s.giftsReceived >= 1 && s.coinsEarned >= 0, 'the rose');
  }
  assert.deepEqual(vs, hs, 'the viewer sees the same stats as the host');
  assert.equal(await viewer.locator('#ended-stats dt').first().textContent(), 'المدة');
  await shot(viewer, 'viewer-ended-ar-phone');
  await shot(host, 'host-ended-en');
  // Back in the lobby the session is gone.
  await viewer.click('#ended-back');
  await viewer.waitForSelector('#view-lobby:not([hidden])');
  await waitFor(async () => (await viewer.locator('.session-card', { hasText: 'Evening live' }).count()) === 0, { message: 'the session gone from the lobby' });
});

step('9. an audio session: listed under Audio, an avatar tile, sound', async (t) => {
  if (!needs(t, 'live')) return;
  // The removed co-host goes live with its mic only; the viewer is back in the lobby.
  const host = S.cohost.page, viewer = S.viewer.page;
  await host.click('#ended-back');
  await host.waitForSelector('#view-lobby:not([hidden])');
  await host.fill('#form-golive input[name=title]', 'Radio · إذاعة');
  await host.check('#form-golive input[name=type][value=audio]');
  await host.click('#form-golive button[type=submit]');
  await host.waitForSelector('#end:not([hidden])');
  await viewer.click('[data-filter=audio]');
  const card = viewer.locator('.session-item', { hasText: 'Radio' });
  await card.waitFor({ timeout: 10000 });
  assert.equal(await viewer.locator('.session-item', { hasText: 'Evening live' }).count(), 0);
  await card.locator('.session-card').click();
  await viewer.waitForSelector('#view-session:not([hidden])');
  const tile = viewer.locator('#stage .tile[data-video="false"]', { hasText: COHOST });
  await tile.waitFor();
  assert.ok(await tile.locator('.avatar').isVisible(), 'an avatar instead of video');
  assert.equal(await tile.locator('.initial').textContent(), 'ع');
  const energy = await waitFor(async () => { const e = await audioEnergy(viewer); return e > 0 ? e : false; },
    { timeout: 15000, message: 'audio energy > 0 in the audio session' });
  t.diagnostic(`audio session energy ${energy.toFixed(4)}`);
  await shot(viewer, 'viewer-audio-session-ar-phone');
  await viewer.click('#leave');
  await viewer.waitForSelector('#view-lobby:not([hidden])');
  await host.click('#end');
  await host.click('#end');
  await host.waitForSelector('#view-ended:not([hidden])');
});

step('10. a refused camera permission gives a clear message, in English and in Arabic', async () => {
  S.denied = await launch('denied', { fakeUI: false }); // every permission prompt is denied
  const p = S.denied.page;
  await p.goto(`${S.server.url}/`);
  await guestLogin(p, 'Nour');
  await p.fill('#form-golive input[name=title]', 'Never live');
  await p.click('#form-golive button[type=submit]');
  const err = p.locator('#golive-error');
  await err.waitFor();
  assert.equal(await err.getAttribute('data-reason'), 'denied');
  assert.equal(await err.textContent(),
    "Camera and microphone access was denied. Allow them for this site in your browser's settings, then try again.");
  assert.equal(await err.getAttribute('role'), 'alert');
  await shot(p, 'camera-denied-en');
  await setLanguage(p, 'ar');
  await p.click('#form-golive button[type=submit]');
  await waitFor(async () => (await err.textContent()).startsWith('تم رفض الوصول إلى الكاميرا'), { message: 'the Arabic message' });
  await shot(p, 'camera-denied-ar');
  // No session was left behind.
  const live = await S.server.trpc('query', 'streaming.getActiveSessions', { type: 'all', limit: 50 });
  assert.ok(!live.body.result.data.some((s) => s.title === 'Never live'), 'no session created without a camera');
});

step('11. no page threw an uncaught error', async () => {
  const errors = [S.host, S.viewer, S.cohost, S.denied].filter(Boolean)
    .flatMap((b) => b.problems.filter((x) => x.startsWith('pageerror')).map((x) => `${b.name}: ${x}`));
  assert.deepEqual(errors, []);
});
