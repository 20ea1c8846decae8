// Chobi Live: compatibility of the Go server with the REAL @trpc/client v11.
//
// Contract: shared/PROTOCOL.md (section 1 and the procedure tables) and the wire captures in
// shared/fixtures/trpc/ (golden.json: rulesForAServer, cases). Every seed call is made exactly as
// the app makes it, through httpLink and httpBatchLink, each without a transformer and with
// superjson: 4 modes against ONE server in auto-detect mode (no TRPC_TRANSFORMER).
//
// Where PROTOCOL.md is silent, the assumption made is written next to the assertion as
// "ASSUMPTION:".
//
// Run: npm ci && CHOBI_BIN=../../bin/chobi node --test      (or CHOBI_URL=http://host:port)

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createTRPCClient, httpBatchLink, httpBatchStreamLink } from '@trpc/client';
import superjson from 'superjson';

import {
  MODES, RUN, TRPC_CODES, TRPCClientError,
  assertIceServers, assertNum, assertObj, assertStr, assertStrOrNull, assertTime, assertWsUrl,
  base, expectTRPCError, makeClient, show, sleep, startServer, stopServer, timeMs, timedFetch, trpcUrl,
} from './lib.mjs';

const T = { timeout: 30_000 };

before(async () => { await startServer(); }, { timeout: 30_000 });
after(async () => { await stopServer(); });

const PASSWORD = 'Corr3ct-horse-battery';

// Marks a step skipped when an earlier step it depends on failed, so the first real failure is
// the one that shows.
function need(t, state, ...keys) {
  const missing = keys.filter((k) => state[k] === undefined);
  if (missing.length) {
    t.skip(`needs ${missing.join(', ')} from an earlier step that failed`);
    return false;
  }
  return true;
}

function assertUser(u, what) {
  assertObj(u, what);
  assertStr(u.id, `${what}.id`);
  // ASSUMPTION: auth's `user` carries at least id, username and displayName.
  assertStr(u.username, `${what}.username`);
  assertStr(u.displayName, `${what}.displayName`);
  assert.equal(u.password, undefined, `${what} must not expose password`);
  assert.equal(u.passwordHash, undefined, `${what} must not expose passwordHash`);
}

function assertAuth(r, what) {
  assertObj(r, what);
  assertStr(r.token, `${what}.token`);
  assert.match(r.token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `${what}.token should be a JWT`);
  assertUser(r.user, `${what}.user`);
}

function assertSession(mode, s, what) {
  assertObj(s, what);
  assertStr(s.id, `${what}.id`);
  assertStr(s.hostId, `${what}.hostId`);
  assertStr(s.title, `${what}.title`);
  assert.ok(s.type === 'video' || s.type === 'audio', `${what}.type`);
  assertStr(s.category, `${what}.category`);
  assert.equal(typeof s.isPrivate, 'boolean', `${what}.isPrivate`);
  assert.equal(s.status, 'live', `${what}.status`);
  assertTime(mode, s.createdAt, `${what}.createdAt`);
  assertNum(s.viewerCount, `${what}.viewerCount`, { int: true, min: 0 });
  assertWsUrl(s.wsUrl, `${what}.wsUrl`);
}

function assertMessage(mode, m, what) {
  assertObj(m, what);
  assertStr(m.id, `${what}.id`);
  assertStr(m.sessionId, `${what}.sessionId`);
  assertStr(m.userId, `${what}.userId`);
  assertStr(m.displayName, `${what}.displayName`);
  assertStr(m.message, `${what}.message`);
  assertStr(m.type, `${what}.type`);
  assertTime(mode, m.createdAt, `${what}.createdAt`);
}

function assertPublicProfileFields(p, what) {
  assertObj(p, what);
  assertStr(p.id, `${what}.id`);
  assertStr(p.username, `${what}.username`);
  assertStr(p.displayName, `${what}.displayName`);
  // ASSUMPTION: an unset bio / avatarUrl may be "" or null.
  assertStrOrNull(p.bio, `${what}.bio`);
  assertStrOrNull(p.avatarUrl, `${what}.avatarUrl`);
  assertNum(p.followers, `${what}.followers`, { int: true, min: 0 });
  assertNum(p.following, `${what}.following`, { int: true, min: 0 });
}

function assertVideo(mode, v, what) {
  assertObj(v, what);
  assertStr(v.id, `${what}.id`);
  assertStr(v.ownerId, `${what}.ownerId`);
  assertNum(v.views, `${what}.views`, { int: true, min: 0 });
  assertNum(v.likes, `${what}.likes`, { int: true, min: 0 });
  assertTime(mode, v.createdAt, `${what}.createdAt`);
}

function assertNotification(mode, n, what) {
  assertObj(n, what);
  assertStr(n.id, `${what}.id`);
  assertStr(n.type, `${what}.type`);
  // Shape from PROTOCOL.md section 2 (`notification` event): {id, type, title, body, data, createdAt, read}.
  // ASSUMPTION: getNotifications returns the same objects.
  assertStr(n.title, `${what}.title`, { empty: true });
  assertStr(n.body, `${what}.body`, { empty: true });
  assert.equal(typeof n.read, 'boolean', `${what}.read`);
  assertTime(mode, n.createdAt, `${what}.createdAt`);
}

// Pages through videos.getVideos until nextCursor is null; returns every id in order.
async function collectVideos(cl, input, maxPages = 500) {
  const ids = [];
  let cursor; // undefined on the first page: superjson sends it as meta "undefined", plain omits it
  for (let page = 0; page < maxPages; page++) {
    const r = await cl.videos.getVideos.query({ ...input, cursor });
    assertObj(r, 'getVideos result');
    assert.ok(Array.isArray(r.videos), 'getVideos: videos should be an array');
    assert.ok('nextCursor' in r, 'getVideos: nextCursor should be present (null on the last page)');
    assert.ok(r.videos.length <= input.limit, `getVideos returned ${r.videos.length} > limit ${input.limit}`);
    ids.push(...r.videos.map((v) => v.id));
    if (r.nextCursor === null || r.nextCursor === undefined) return { ids, pages: page + 1, last: r };
    assert.ok(typeof r.nextCursor === 'string' || typeof r.nextCursor === 'number',
      `nextCursor should be an opaque string (or number), got ${show(r.nextCursor)}`);
    assert.ok(r.videos.length > 0, 'a page with a nextCursor must not be empty');
    assert.notEqual(r.nextCursor, cursor, 'nextCursor must move forward');
    cursor = r.nextCursor;
  }
  assert.fail(`getVideos pagination did not end after ${maxPages} pages`);
}

// ---------------------------------------------------------------------------------------------
// The seed's calls, in each of the 4 modes.

for (const [mi, mode] of MODES.entries()) {
  describe(`seed calls via ${mode.name}`, () => {
    const s = {}; // state shared by the steps of this mode (they run in order)
    const tag = `${RUN}${mi}`; // unique per run and mode
    const anon = () => makeClient(mode);
    const as = (who) => makeClient(mode, s[who].token);

    // ---------------------------------------------------------------- auth
    it('auth.register / auth.login / auth.guest', T, async () => {
      const c = anon();
      // ASSUMPTION: usernames of lowercase letters, digits and "_" up to 20 characters are valid.
      const ra = await c.auth.register.mutate({ username: `host_${tag}`, password: PASSWORD, displayName: `Host ${tag}` });
      assertAuth(ra, 'register(host)');
      assert.equal(ra.user.username, `host_${tag}`);
      assert.equal(ra.user.displayName, `Host ${tag}`);
      s.A = { token: ra.token, ...ra.user };

      // displayName is optional on register.
      const rb = await c.auth.register.mutate({ username: `view_${tag}`, password: PASSWORD });
      assertAuth(rb, 'register(viewer, no displayName)');
      s.B = { token: rb.token, ...rb.user };
      assert.notEqual(s.A.id, s.B.id);

      const la = await c.auth.login.mutate({ username: `host_${tag}`, password: PASSWORD });
      assertAuth(la, 'login');
      assert.equal(la.user.id, s.A.id, 'login returns the registered user');

      const g = await c.auth.guest.mutate({ displayName: `Guest ${tag}` });
      assertAuth(g, 'guest');
      assert.equal(g.user.displayName, `Guest ${tag}`);
      s.C = { token: g.token, ...g.user };

      // displayName? is optional: no input at all (plain: POST without a body; superjson: the
      // {"json":null,"meta":{"values":["undefined"]}} envelope).
      const g2 = await c.auth.guest.mutate();
      assertAuth(g2, 'guest(no input)');
      s.D = { token: g2.token, ...g2.user };
      assert.equal(new Set([s.A.id, s.B.id, s.C.id, s.D.id]).size, 4, 'every account has its own id');
    });

    it('auth errors: duplicate username, wrong password', T, async () => {
      const c = anon();
      // ASSUMPTION: a taken username is CONFLICT.
      await expectTRPCError(c.auth.register.mutate({ username: `host_${tag}`, password: PASSWORD }), 'CONFLICT',
        { path: 'auth.register' });
      // ASSUMPTION: a wrong password is UNAUTHORIZED (PROTOCOL.md only says failed logins exist).
      await expectTRPCError(c.auth.login.mutate({ username: `host_${tag}`, password: 'wrong-password-123' }),
        'UNAUTHORIZED', { path: 'auth.login' });
    });

    // ---------------------------------------------------------------- sessions
    // ASSUMPTION: a host might be limited to one live session, so each session has its own host:
    // A hosts the video session, C (guest) the audio one, D (guest) the private one.
    it('streaming.createSession: video, audio, private', T, async (t) => {
      if (!need(t, s, 'A', 'C', 'D')) return;
      const video = await as('A').streaming.createSession.mutate({
        title: `Video ${tag}`, description: 'compat test', type: 'video', category: 'music', isPrivate: false,
      });
      assertSession(mode, video, 'video session');
      assert.equal(video.hostId, s.A.id);
      assert.equal(video.title, `Video ${tag}`);
      assert.equal(video.description, 'compat test');
      assert.equal(video.type, 'video');
      assert.equal(video.category, 'music');
      assert.equal(video.isPrivate, false);
      assert.equal(video.viewerCount, 0, 'a new session has no viewers (host not counted)');
      s.video = video;

      // description? omitted
      const audio = await as('C').streaming.createSession.mutate({
        title: `Audio ${tag}`, type: 'audio', category: 'talk', isPrivate: false,
      });
      assertSession(mode, audio, 'audio session');
      assert.equal(audio.type, 'audio');
      assert.equal(audio.hostId, s.C.id);
      s.audio = audio;

      const priv = await as('D').streaming.createSession.mutate({
        title: `Private ${tag}`, description: 'invite only', type: 'video', category: 'music', isPrivate: true,
      });
      assertSession(mode, priv, 'private session');
      assert.equal(priv.isPrivate, true);
      assertStr(priv.inviteCode, 'private session inviteCode');
      s.priv = priv;
    });

    it('streaming.getActiveSessions: public, listing, filters, private never listed', T, async (t) => {
      if (!need(t, s, 'video', 'audio', 'priv')) return;
      const pub = anon(); // public procedure: no token needed
      const check = (list, what) => {
        assert.ok(Array.isArray(list), `${what} should be an array, got ${show(list)}`);
        for (const [i, x] of list.entries()) {
          assertObj(x, `${what}[${i}]`);
          assertStr(x.id, `${what}[${i}].id`);
          // ASSUMPTION: listed sessions carry the createSession fields too (title, type, createdAt).
          assertStr(x.title, `${what}[${i}].title`);
          assertTime(mode, x.createdAt, `${what}[${i}].createdAt`);
          assertNum(x.viewerCount, `${what}[${i}].viewerCount`, { int: true, min: 0 });
          assertObj(x.host, `${what}[${i}].host`);
          assertStr(x.host.id, `${what}[${i}].host.id`);
          assertStr(x.host.displayName, `${what}[${i}].host.displayName`);
          assert.ok('avatarUrl' in x.host, `${what}[${i}].host.avatarUrl present`);
          assertStrOrNull(x.host.avatarUrl, `${what}[${i}].host.avatarUrl`);
          assert.notEqual(x.isPrivate, true, `${what}[${i}] is private`);
          assert.notEqual(x.id, s.priv.id, `${what} lists the private session`);
          assert.ok(x.inviteCode === undefined || x.inviteCode === null, `${what}[${i}] leaks an inviteCode`);
          if (i > 0) assert.ok(list[i - 1].viewerCount >= x.viewerCount, `${what}: most viewers first`);
        }
        return list;
      };
      // The seed's call, verbatim.
      const seed = check(await pub.streaming.getActiveSessions.query({ type: 'all', limit: 20 }), 'all(20)');
      assert.ok(seed.length <= 20, 'limit 20 respected');

      // Concurrent calls: in batch mode these go out as one batched GET.
      const [all, vids, auds, music] = await Promise.all([
        pub.streaming.getActiveSessions.query({ type: 'all', limit: 100 }),
        pub.streaming.getActiveSessions.query({ type: 'video', limit: 100 }),
        as('B').streaming.getActiveSessions.query({ type: 'audio', limit: 100 }),
        pub.streaming.getActiveSessions.query({ type: 'all', category: 'music', limit: 100 }),
      ]);
      check(all, 'all'); check(vids, 'video'); check(auds, 'audio'); check(music, 'music');
      const ids = (l) => l.map((x) => x.id);
      assert.ok(ids(all).includes(s.video.id), 'type all lists the video session');
      assert.ok(ids(all).includes(s.audio.id), 'type all lists the audio session');
      assert.ok(ids(vids).includes(s.video.id) && !ids(vids).includes(s.audio.id), 'type video filter');
      assert.ok(ids(auds).includes(s.audio.id) && !ids(auds).includes(s.video.id), 'type audio filter');
      for (const x of vids) assert.equal(x.type, 'video');
      for (const x of auds) assert.equal(x.type, 'audio');
      assert.ok(ids(music).includes(s.video.id) && !ids(music).includes(s.audio.id), 'category filter');
      for (const x of music) assert.equal(x.category, 'music');

      const mine = all.find((x) => x.id === s.video.id);
      assert.equal(mine.host.id, s.A.id, 'host.id');
      assert.equal(mine.host.displayName, s.A.displayName, 'host.displayName');
    });

    it('streaming.joinSession: viewer; private needs the right inviteCode', T, async (t) => {
      if (!need(t, s, 'video', 'priv', 'B')) return;
      const b = as('B');
      const j = await b.streaming.joinSession.mutate({ sessionId: s.video.id, role: 'viewer' });
      assertObj(j, 'joinSession');
      assert.equal(j.sessionId, s.video.id);
      assert.equal(j.role, 'viewer');
      assertWsUrl(j.wsUrl, 'joinSession.wsUrl');
      assertIceServers(j.iceServers);

      await expectTRPCError(
        b.streaming.joinSession.mutate({ sessionId: s.priv.id, role: 'viewer', inviteCode: `wrong-${s.priv.inviteCode}` }),
        'FORBIDDEN', { path: 'streaming.joinSession' });
      await expectTRPCError(b.streaming.joinSession.mutate({ sessionId: s.priv.id, role: 'viewer' }), 'FORBIDDEN');
      const jp = await b.streaming.joinSession.mutate({ sessionId: s.priv.id, role: 'viewer', inviteCode: s.priv.inviteCode });
      assert.equal(jp.sessionId, s.priv.id);
      assert.equal(jp.role, 'viewer');
      assertWsUrl(jp.wsUrl, 'private joinSession.wsUrl');
      assertIceServers(jp.iceServers);

      // ASSUMPTION: an unknown session is NOT_FOUND.
      await expectTRPCError(b.streaming.joinSession.mutate({ sessionId: `nope-${tag}`, role: 'viewer' }), 'NOT_FOUND');
    });

    // ---------------------------------------------------------------- chat
    it('chat.sendMessage + chat.getMessages (newest last, limit, before)', T, async (t) => {
      if (!need(t, s, 'video', 'A', 'B')) return;
      const a = as('A');
      const b = as('B');
      // Sequential, so their order is defined. Text with non-ASCII and markup: stored as written.
      const texts = [`hello from host ${tag}`, `مرحبا ${tag} <b>&amp;</b>`, `third ${tag} 🎉`];
      const sent = [];
      sent.push(await a.chat.sendMessage.mutate({ sessionId: s.video.id, message: texts[0], type: 'text' }));
      sent.push(await b.chat.sendMessage.mutate({ sessionId: s.video.id, message: texts[1], type: 'text' }));
      sent.push(await b.chat.sendMessage.mutate({ sessionId: s.video.id, message: texts[2], type: 'text' }));
      for (const [i, m] of sent.entries()) {
        assertMessage(mode, m, `sendMessage[${i}]`);
        assert.equal(m.sessionId, s.video.id);
        assert.equal(m.message, texts[i], 'stored exactly as written');
        assert.equal(m.type, 'text');
      }
      assert.equal(sent[0].userId, s.A.id);
      assert.equal(sent[0].displayName, s.A.displayName);
      assert.equal(sent[1].userId, s.B.id);
      s.sentMessages = sent;

      const all = await b.chat.getMessages.query({ sessionId: s.video.id, limit: 50 });
      assert.ok(Array.isArray(all), 'getMessages returns an array');
      all.forEach((m, i) => assertMessage(mode, m, `getMessages[${i}]`));
      assert.deepEqual(all.map((m) => m.id).slice(-3), sent.map((m) => m.id), 'newest last, in send order');
      for (let i = 1; i < all.length; i++) assert.ok(timeMs(all[i - 1].createdAt) <= timeMs(all[i].createdAt), 'ascending createdAt');

      // ASSUMPTION: limit N gives the N newest messages, still newest last.
      const two = await b.chat.getMessages.query({ sessionId: s.video.id, limit: 2 });
      assert.deepEqual(two.map((m) => m.id), [sent[1].id, sent[2].id], 'limit 2 = the two newest, newest last');

      // ASSUMPTION: `before` is a message id (cursor); if the server rejects an id there as
      // BAD_REQUEST, the message's createdAt (ISO string / Date with superjson) is tried instead.
      let older;
      try {
        older = await b.chat.getMessages.query({ sessionId: s.video.id, limit: 50, before: sent[2].id });
      } catch (e) {
        if (!(e instanceof TRPCClientError) || e.data?.code !== 'BAD_REQUEST') throw e;
        t.diagnostic(`before=<message id> rejected (${e.message}); trying before=<createdAt>`);
        older = await b.chat.getMessages.query({ sessionId: s.video.id, limit: 50, before: sent[2].createdAt });
      }
      assert.ok(Array.isArray(older));
      const oids = older.map((m) => m.id);
      assert.ok(!oids.includes(sent[2].id), '`before` excludes that message');
      assert.deepEqual(oids.slice(-2), [sent[0].id, sent[1].id], '`before` gives the older ones, newest last');
    });

    // ---------------------------------------------------------------- profiles
    it('users.getProfile: own (coins, diamonds, preferences) vs other (none)', T, async (t) => {
      if (!need(t, s, 'A', 'B')) return;
      const a = as('A');
      // Own profile, no input at all (plain: no ?input; superjson: the undefined envelope),
      // and with an empty object.
      const [own, own2] = await Promise.all([a.users.getProfile.query(), a.users.getProfile.query({})]);
      for (const [p, w] of [[own, 'own()'], [own2, 'own({})']]) {
        assertPublicProfileFields(p, w);
        assert.equal(p.id, s.A.id);
        assert.equal(p.username, s.A.username);
        assertNum(p.coins, `${w}.coins`, { min: 0 });
        assertNum(p.diamonds, `${w}.diamonds`, { min: 0 });
        assertObj(p.preferences, `${w}.preferences`);
      }
      s.ownCoins = own.coins;

      const other = await a.users.getProfile.query({ userId: s.B.id });
      assertPublicProfileFields(other, 'other');
      assert.equal(other.id, s.B.id);
      for (const k of ['coins', 'diamonds', 'preferences']) {
        // ASSUMPTION: "own profile only" = absent (null tolerated) on someone else's profile.
        assert.ok(other[k] === undefined || other[k] === null, `another user's profile must not show ${k}: ${show(other[k])}`);
      }
      // ASSUMPTION: an unknown userId is NOT_FOUND.
      await expectTRPCError(a.users.getProfile.query({ userId: `nope-${tag}` }), 'NOT_FOUND', { path: 'users.getProfile' });
    });

    it('users.updateProfile: displayName, bio, preferences; unknown fields ignored; validation', T, async (t) => {
      if (!need(t, s, 'A')) return;
      const a = as('A');
      const displayName = `ليلى ${tag}`;
      // No newline: PROTOCOL.md refuses control characters in profile text, and "\n" is one.
      const bio = `Bio of ${tag}: مرحبا ¡hola! <i>as written</i>`;
      const up = await a.users.updateProfile.mutate({
        displayName, bio, preferences: { language: 'ar', theme: 'dark' },
        coins: 1_000_000, username: `hijack_${tag}`, // unknown / not updatable: ignored, never applied
      });
      assertPublicProfileFields(up, 'updateProfile result');
      assert.equal(up.displayName, displayName);
      assert.equal(up.bio, bio);
      assert.equal(up.username, s.A.username, 'username is not updatable');
      const got = await a.users.getProfile.query();
      assert.equal(got.displayName, displayName);
      assert.equal(got.bio, bio);
      assertObj(got.preferences, 'preferences');
      assert.equal(got.preferences.language, 'ar');
      assert.equal(got.preferences.theme, 'dark');
      assert.equal(got.username, s.A.username);
      if (s.ownCoins !== undefined) assert.equal(got.coins, s.ownCoins, 'coins must not be settable via updateProfile');
      s.A.displayName = displayName;

      await expectTRPCError(a.users.updateProfile.mutate({ displayName: '' }), 'BAD_REQUEST',
        { field: 'displayName', path: 'users.updateProfile' });
      await expectTRPCError(a.users.updateProfile.mutate({ displayName: 'x'.repeat(51) }), 'BAD_REQUEST', { field: 'displayName' });
      await expectTRPCError(a.users.updateProfile.mutate({ displayName: 'evil\u202Egnp.exe' }), 'BAD_REQUEST', { field: 'displayName' });
      await expectTRPCError(a.users.updateProfile.mutate({ bio: 'b'.repeat(501) }), 'BAD_REQUEST', { field: 'bio' });
      const still = await a.users.getProfile.query();
      assert.equal(still.displayName, displayName, 'a refused update changes nothing');
    });

    it('users.follow / users.unfollow: follower counts change', T, async (t) => {
      if (!need(t, s, 'A', 'B')) return;
      const a = as('A');
      const b = as('B');
      const pB = await a.users.getProfile.query({ userId: s.B.id });
      const meBefore = await a.users.getProfile.query();
      await a.users.follow.mutate({ userId: s.B.id }); // ASSUMPTION: output shape is free; not checked
      const afterB = await b.users.getProfile.query();
      const afterA = await a.users.getProfile.query();
      assert.equal(afterB.followers, pB.followers + 1, 'followed user gains a follower');
      assert.equal(afterA.following, meBefore.following + 1, 'follower follows one more');
      s.followed = true;

      // The notification check happens below, before unfollowing would matter.
      const unread = await b.notifications.getNotifications.query({ type: 'all', unreadOnly: false, limit: 20 });
      s.notifsAfterFollow = unread;

      await a.users.unfollow.mutate({ userId: s.B.id });
      const endB = await a.users.getProfile.query({ userId: s.B.id });
      const endA = await a.users.getProfile.query();
      assert.equal(endB.followers, pB.followers, 'unfollow restores the follower count');
      assert.equal(endA.following, meBefore.following, 'unfollow restores the following count');
    });

    // ---------------------------------------------------------------- notifications
    it('notifications.getNotifications (a follow notifies) + markAsRead(markAll)', T, async (t) => {
      if (!need(t, s, 'B', 'notifsAfterFollow')) return;
      const b = as('B');
      const r = s.notifsAfterFollow;
      assertObj(r, 'getNotifications');
      assert.ok(Array.isArray(r.notifications), 'notifications is an array');
      assertNum(r.unreadCount, 'unreadCount', { int: true, min: 0 });
      r.notifications.forEach((n, i) => assertNotification(mode, n, `notifications[${i}]`));
      const follows = r.notifications.filter((n) => n.type === 'follow');
      assert.ok(follows.length >= 1, `a follow creates a "follow" notification for the followed user: ${show(r.notifications)}`);
      assert.equal(follows[0].read, false);
      assert.ok(r.unreadCount >= 1);

      const [onlyFollow, onlyUnread] = await Promise.all([
        b.notifications.getNotifications.query({ type: 'follow', unreadOnly: false, limit: 20 }),
        b.notifications.getNotifications.query({ type: 'all', unreadOnly: true, limit: 20 }),
      ]);
      assert.ok(onlyFollow.notifications.length >= 1);
      for (const n of onlyFollow.notifications) assert.equal(n.type, 'follow', 'type filter');
      for (const n of onlyUnread.notifications) assert.equal(n.read, false, 'unreadOnly filter');

      const m = await b.notifications.markAsRead.mutate({ notificationIds: [], markAll: true });
      assertObj(m, 'markAsRead');
      assertNum(m.updated, 'markAsRead.updated', { int: true, min: 1 });
      const r2 = await b.notifications.getNotifications.query({ type: 'all', unreadOnly: false, limit: 20 });
      assert.equal(r2.unreadCount, 0, 'markAll leaves nothing unread');
      for (const n of r2.notifications) assert.equal(n.read, true);
      const r3 = await b.notifications.getNotifications.query({ type: 'all', unreadOnly: true, limit: 20 });
      assert.equal(r3.notifications.length, 0);

      await expectTRPCError(b.notifications.getNotifications.query({ type: 'all', unreadOnly: false, limit: 0 }),
        'BAD_REQUEST', { field: 'limit', path: 'notifications.getNotifications' });
    });

    // ---------------------------------------------------------------- videos
    it('videos.uploadVideo', T, async (t) => {
      if (!need(t, s, 'A')) return;
      const a = as('A');
      const uploaded = [];
      for (let i = 0; i < 5; i++) {
        const input = {
          title: `Clip ${i} ${tag}`, description: `clip number ${i}`, category: 'music',
          tags: ['chobi', `t${i}`], videoUrl: `https://cdn.example.invalid/${tag}/${i}.mp4`, duration: 30 + i,
        };
        const v = await a.videos.uploadVideo.mutate(input);
        assertVideo(mode, v, `uploadVideo[${i}]`);
        assert.equal(v.ownerId, s.A.id);
        assert.equal(v.views, 0);
        assert.equal(v.likes, 0);
        // ASSUMPTION: the video echoes its inputs under the same names.
        assert.equal(v.title, input.title);
        assert.equal(v.category, 'music');
        assert.deepEqual(v.tags, input.tags);
        assert.equal(v.videoUrl, input.videoUrl);
        assert.equal(v.duration, input.duration);
        uploaded.push(v);
        await sleep(3); // distinct createdAt for the "recent" order check (ties are tested by "popular")
      }
      s.videoIds = uploaded.map((v) => v.id);
    });

    for (const sortBy of ['recent', 'popular', 'trending']) {
      it(`videos.getVideos sortBy ${sortBy}: limit + cursor -> nextCursor pagination, no duplicates`, T, async (t) => {
        if (!need(t, s, 'A', 'videoIds')) return;
        const a = as('A');
        const mine = s.videoIds;
        const { ids, pages } = await collectVideos(a, { sortBy, limit: 2 });
        assert.equal(new Set(ids).size, ids.length, `sortBy ${sortBy}: no duplicates across pages`);
        for (const id of mine) assert.ok(ids.includes(id), `sortBy ${sortBy}: uploaded video ${id} is listed`);
        assert.ok(pages >= 3, `sortBy ${sortBy}: 5+ videos at limit 2 take 3+ pages`);
        const first = await a.videos.getVideos.query({ sortBy, limit: 3 });
        assert.equal(first.videos.length, 3);
        first.videos.forEach((v, i) => assertVideo(mode, v, `getVideos(${sortBy}).videos[${i}]`));
        if (sortBy === 'recent') {
          const order = ids.filter((id) => mine.includes(id));
          assert.deepEqual(order, [...mine].reverse(), 'recent = newest first');
          for (let i = 1; i < first.videos.length; i++) {
            assert.ok(timeMs(first.videos[i - 1].createdAt) >= timeMs(first.videos[i].createdAt), 'recent: createdAt descending');
          }
        }
        if (sortBy === 'popular') {
          const byCat = await a.videos.getVideos.query({ category: 'music', sortBy, limit: 100 });
          for (const v of byCat.videos) assert.equal(v.category, 'music', 'category filter');
          for (let i = 1; i < byCat.videos.length; i++) assert.ok(byCat.videos[i - 1].views >= byCat.videos[i].views, 'popular: views descending');
        }
      });
    }

    it('videos.getVideos validation', T, async (t) => {
      if (!need(t, s, 'A')) return;
      const a = as('A');
      await expectTRPCError(a.videos.getVideos.query({ sortBy: 'recent', limit: 101 }), 'BAD_REQUEST', { field: 'limit', path: 'videos.getVideos' });
      await expectTRPCError(a.videos.getVideos.query({ sortBy: 'loudest', limit: 10 }), 'BAD_REQUEST', { field: 'sortBy' });
    });

    // ---------------------------------------------------------------- errors
    it('errors: no token / bad token -> UNAUTHORIZED 401', T, async () => {
      const c = anon();
      await expectTRPCError(c.users.getProfile.query(), 'UNAUTHORIZED', { path: 'users.getProfile' });
      await expectTRPCError(c.notifications.getNotifications.query({ type: 'all', unreadOnly: false, limit: 20 }),
        'UNAUTHORIZED', { path: 'notifications.getNotifications' });
      await expectTRPCError(c.streaming.createSession.mutate({ title: 'x', type: 'video', category: 'music', isPrivate: false }),
        'UNAUTHORIZED', { path: 'streaming.createSession' });
      await expectTRPCError(c.chat.sendMessage.mutate({ sessionId: 'x', message: 'hi', type: 'text' }), 'UNAUTHORIZED');
      const bad = makeClient(mode, 'not.a.jwt');
      await expectTRPCError(bad.users.getProfile.query(), 'UNAUTHORIZED');
      // alg "none" is refused (PROTOCOL.md section 3).
      const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const none = makeClient(mode, `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', exp: 4102444800 })}.`);
      await expectTRPCError(none.users.getProfile.query(), 'UNAUTHORIZED');
    });

    it('errors: invalid input -> BAD_REQUEST naming the field', T, async (t) => {
      const pub = anon();
      await expectTRPCError(pub.streaming.getActiveSessions.query({ type: 'all', limit: 0 }), 'BAD_REQUEST',
        { field: 'limit', path: 'streaming.getActiveSessions' });
      await expectTRPCError(pub.streaming.getActiveSessions.query({ type: 'all', limit: 101 }), 'BAD_REQUEST', { field: 'limit' });
      await expectTRPCError(pub.streaming.getActiveSessions.query({ type: 'bogus', limit: 20 }), 'BAD_REQUEST', { field: 'type' });
      if (!need(t, s, 'B', 'video')) return;
      const b = as('B');
      await expectTRPCError(b.chat.sendMessage.mutate({ sessionId: s.video.id, message: '', type: 'text' }), 'BAD_REQUEST',
        { field: 'message', path: 'chat.sendMessage' });
      await expectTRPCError(b.chat.sendMessage.mutate({ sessionId: s.video.id, message: 'm'.repeat(501), type: 'text' }),
        'BAD_REQUEST', { field: 'message' });
      await expectTRPCError(b.streaming.createSession.mutate({ title: 'x', type: 'hologram', category: 'music', isPrivate: false }),
        'BAD_REQUEST', { field: 'type', path: 'streaming.createSession' });
    });

    it('errors: unknown procedure -> NOT_FOUND 404', T, async () => {
      const c = anon();
      await expectTRPCError(c.nope.missing.query(), 'NOT_FOUND', { path: 'nope.missing' });
      await expectTRPCError(c.streaming.noSuchProcedure.query({ a: 1 }), 'NOT_FOUND', { path: 'streaming.noSuchProcedure' });
      await expectTRPCError(c.nope.missing.mutate({ a: 1 }), 'NOT_FOUND', { path: 'nope.missing' });
    });

    it('batch: a bad call and a good call -> the good one resolves, the bad one rejects', T, async (t) => {
      // Issued in the same tick: one HTTP request in batch mode (207 on the wire), two otherwise.
      const pub = anon();
      const [good, bad, unauth] = await Promise.allSettled([
        pub.streaming.getActiveSessions.query({ type: 'all', limit: 20 }),
        pub.streaming.getActiveSessions.query({ type: 'all', limit: 0 }),
        pub.users.getProfile.query(),
      ]);
      assert.equal(good.status, 'fulfilled', `good call: ${show(good.reason)}`);
      assert.ok(Array.isArray(good.value));
      assert.equal(bad.status, 'rejected');
      await expectTRPCError(Promise.reject(bad.reason), 'BAD_REQUEST', { field: 'limit', path: 'streaming.getActiveSessions' });
      assert.equal(unauth.status, 'rejected');
      await expectTRPCError(Promise.reject(unauth.reason), 'UNAUTHORIZED', { path: 'users.getProfile' });

      if (!need(t, s, 'B', 'audio')) return;
      const b = as('B');
      const [ok, ko] = await Promise.allSettled([
        b.chat.sendMessage.mutate({ sessionId: s.audio.id, message: `batched ${tag}`, type: 'text' }),
        b.chat.sendMessage.mutate({ sessionId: s.audio.id, message: '', type: 'text' }),
      ]);
      assert.equal(ok.status, 'fulfilled', `good mutation: ${show(ok.reason)}`);
      assertMessage(mode, ok.value, 'batched sendMessage');
      assert.equal(ko.status, 'rejected');
      await expectTRPCError(Promise.reject(ko.reason), 'BAD_REQUEST', { field: 'message', path: 'chat.sendMessage' });

      // Calls without input batched with calls with input (plain batch: missing keys / ?input={}).
      const [p1, p2, n1] = await Promise.all([
        b.users.getProfile.query(),
        b.users.getProfile.query(),
        b.notifications.getNotifications.query({ type: 'all', unreadOnly: false, limit: 5 }),
      ]);
      assert.equal(p1.id, s.B.id);
      assert.equal(p2.id, s.B.id);
      assert.ok(Array.isArray(n1.notifications));
    });

    // ---------------------------------------------------------------- end + analytics
    it('streaming.endSession: host only; stats', T, async (t) => {
      if (!need(t, s, 'video', 'A', 'B', 'sentMessages')) return;
      await expectTRPCError(as('B').streaming.endSession.mutate({ sessionId: s.video.id }), 'FORBIDDEN',
        { path: 'streaming.endSession' });
      const st = await as('A').streaming.endSession.mutate({ sessionId: s.video.id });
      assertObj(st, 'endSession stats');
      for (const k of ['sessionId', 'duration', 'peakViewers', 'totalViewers', 'messages', 'giftsReceived', 'coinsEarned']) {
        assert.ok(k in st, `stats.${k} present: ${show(st)}`);
      }
      assert.equal(st.sessionId, s.video.id);
      assertNum(st.duration, 'stats.duration', { int: true, min: 0 }); // whole seconds
      assertNum(st.peakViewers, 'stats.peakViewers', { int: true, min: 0 });
      assertNum(st.totalViewers, 'stats.totalViewers', { int: true, min: 0 });
      assert.ok(st.totalViewers >= st.peakViewers, 'totalViewers >= peakViewers');
      assert.equal(st.messages, s.sentMessages.length, 'stats.messages counts every chat message');
      assertNum(st.giftsReceived, 'stats.giftsReceived', { int: true, min: 0 });
      assertNum(st.coinsEarned, 'stats.coinsEarned', { min: 0 });
      assert.equal(st.giftsReceived, 0);
      s.ended = st;

      const list = await anon().streaming.getActiveSessions.query({ type: 'all', limit: 100 });
      assert.ok(!list.some((x) => x.id === s.video.id), 'an ended session is no longer listed');
      // ASSUMPTION: talking to an ended session fails with some 4xx (NOT_FOUND preferred).
      const e1 = await expectTRPCError(as('B').chat.sendMessage.mutate({ sessionId: s.video.id, message: 'late', type: 'text' }),
        ['NOT_FOUND', 'BAD_REQUEST', 'FORBIDDEN', 'CONFLICT']);
      t.diagnostic(`sendMessage to an ended session: ${e1.data.code}`);
      await expectTRPCError(as('B').streaming.joinSession.mutate({ sessionId: s.video.id, role: 'viewer' }),
        ['NOT_FOUND', 'BAD_REQUEST', 'FORBIDDEN', 'CONFLICT']);

      // Clean up the other sessions of this mode (also endSession on an audio / a private one).
      if (s.audio) assert.equal((await as('C').streaming.endSession.mutate({ sessionId: s.audio.id })).sessionId, s.audio.id);
      if (s.priv) assert.equal((await as('D').streaming.endSession.mutate({ sessionId: s.priv.id })).sessionId, s.priv.id);
    });

    it('analytics.getStreamStats {userId, period:"week"}', T, async (t) => {
      if (!need(t, s, 'A')) return;
      const a = as('A');
      const r = await a.analytics.getStreamStats.query({ userId: s.A.id, period: 'week' });
      // ASSUMPTION: PROTOCOL.md only says "totals and a per-day series"; checked: an object with at
      // least one array (the series) and at least one number somewhere (the totals).
      assertObj(r, 'getStreamStats');
      const flat = JSON.stringify(r, (k, v) => v);
      assert.ok(Object.values(r).some(Array.isArray) || Object.values(r).some((v) => v && typeof v === 'object' && Object.values(v).some(Array.isArray)),
        `getStreamStats should contain a per-day series (array): ${flat}`);
      assert.ok(/[:\[,]\s*\d/.test(flat), `getStreamStats should contain numeric totals: ${flat}`);
      for (const period of ['day', 'month', 'year']) {
        assertObj(await a.analytics.getStreamStats.query({ userId: s.A.id, period }), `getStreamStats(${period})`);
      }
      await expectTRPCError(a.analytics.getStreamStats.query({ userId: s.A.id, period: 'decade' }), 'BAD_REQUEST',
        { field: 'period', path: 'analytics.getStreamStats' });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// users.deleteAccount (an extension, docs/protocol.md): the confirmation and, for an
// account with a password, the password are required; afterwards the token and the login are
// dead and the profile is anonymous.

describe('users.deleteAccount (extension)', () => {
  for (const [mi, mode] of MODES.entries()) {
    it(`users.deleteAccount via ${mode.name}`, T, async () => {
      const username = `gone_${RUN}${mi}`;
      const reg = await makeClient(mode).auth.register.mutate({ username, password: PASSWORD });
      const me = makeClient(mode, reg.token);
      await me.wallet.topUp.mutate({ amount: 25 });
      await expectTRPCError(me.users.deleteAccount.mutate({ password: PASSWORD }), 'BAD_REQUEST',
        { field: 'confirm', path: 'users.deleteAccount' });
      await expectTRPCError(me.users.deleteAccount.mutate({ confirm: 'DELETE' }), 'BAD_REQUEST', { field: 'password' });
      await expectTRPCError(me.users.deleteAccount.mutate({ confirm: 'DELETE', password: 'not-the-password' }), 'FORBIDDEN',
        { field: 'password' });
      assert.equal((await me.users.getProfile.query()).username, username, 'a refused deletion changes nothing');

      const out = await me.users.deleteAccount.mutate({ confirm: 'DELETE', password: PASSWORD });
      assert.equal(out.deleted, true);
      assert.equal(out.userId, reg.user.id);
      assert.deepEqual(out.forfeited, { coins: 25, diamonds: 0 }, 'the balance went to the platform');

      await expectTRPCError(me.users.getProfile.query(), 'UNAUTHORIZED', { path: 'users.getProfile' });
      await expectTRPCError(makeClient(mode).auth.login.mutate({ username, password: PASSWORD }), 'UNAUTHORIZED');
      const guest = await makeClient(mode).auth.guest.mutate();
      const seen = await makeClient(mode, guest.token).users.getProfile.query({ userId: reg.user.id });
      assert.equal(seen.displayName, 'Deleted user');
      assert.equal(seen.username, `deleted-${reg.user.id}`);
      // A guest has no password: the confirmation is enough.
      const g = await makeClient(mode, guest.token).users.deleteAccount.mutate({ confirm: 'DELETE' });
      assert.equal(g.deleted, true);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Economy: gifts.getAvailableGifts / wallet.getBalance (and topUp, sendGift). Runs by default;
// CHOBI_ECONOMY=0 skips it (for a server without the economy).

const ECONOMY = process.env.CHOBI_ECONOMY !== '0';

describe('ECONOMY (gifts, wallet) - skipped with CHOBI_ECONOMY=0',
  { skip: ECONOMY ? false : 'CHOBI_ECONOMY=0: the gifts/wallet checks are skipped' }, () => {
    for (const [mi, mode] of MODES.entries()) {
      it(`gifts.getAvailableGifts, wallet.getBalance/topUp, gifts.sendGift via ${mode.name}`, T, async () => {
        const pub = makeClient(mode);
        const gifts = await pub.gifts.getAvailableGifts.query(); // public, no input
        assert.ok(Array.isArray(gifts) && gifts.length > 0, 'gift catalog is a non-empty array');
        for (const [i, g] of gifts.entries()) {
          assertStr(g.id, `gifts[${i}].id`);
          assertStr(g.name, `gifts[${i}].name`);
          assertNum(g.price, `gifts[${i}].price`, { int: true, min: 1 });
          assertStr(g.animation, `gifts[${i}].animation`);
        }
        const rose = gifts.find((g) => g.id === 'gift_rose');
        assert.ok(rose, 'the catalog has gift_rose');

        const tag = `${RUN}e${mi}`;
        const host = await pub.auth.guest.mutate({ displayName: `EcoHost ${tag}` });
        const fan = await pub.auth.guest.mutate({ displayName: `EcoFan ${tag}` });
        const h = makeClient(mode, host.token);
        const f = makeClient(mode, fan.token);

        const bal0 = await f.wallet.getBalance.query();
        assertObj(bal0, 'getBalance');
        assertNum(bal0.coins, 'coins', { int: true, min: 0 });
        assertNum(bal0.diamonds, 'diamonds', { int: true, min: 0 });
        const prof = await f.users.getProfile.query();
        assert.equal(prof.coins, bal0.coins, 'profile coins = wallet coins');
        assert.equal(prof.diamonds, bal0.diamonds, 'profile diamonds = wallet diamonds');
        await expectTRPCError(pub.wallet.getBalance.query(), 'UNAUTHORIZED', { path: 'wallet.getBalance' });

        // development mode credits at once (PROTOCOL.md)
        const amount = rose.price * 3;
        const key = `topup-${tag}`;
        const top = await f.wallet.topUp.mutate({ amount, idempotencyKey: key });
        assertStr(top.transactionId, 'topUp.transactionId');
        assert.equal(top.coins, bal0.coins + amount);
        const again = await f.wallet.topUp.mutate({ amount, idempotencyKey: key });
        assert.equal(again.transactionId, top.transactionId, 'a repeated idempotencyKey returns the first result');
        assert.equal((await f.wallet.getBalance.query()).coins, bal0.coins + amount, 'no double credit');

        const sess = await h.streaming.createSession.mutate({ title: `Eco ${tag}`, type: 'audio', category: 'talk', isPrivate: false });
        const tx = await f.gifts.sendGift.mutate({ sessionId: sess.id, giftId: 'gift_rose', recipientId: host.user.id, quantity: 2, message: 'for you' });
        assertStr(tx.id, 'sendGift.id');
        assert.equal(tx.giftId, 'gift_rose');
        assert.equal(tx.quantity, 2);
        assert.equal(tx.totalCost, rose.price * 2);
        assert.equal(tx.senderBalance, bal0.coins + amount - rose.price * 2);
        assert.equal(tx.recipientId, host.user.id);
        assertTime(mode, tx.createdAt, 'sendGift.createdAt');
        // ASSUMPTION: not enough coins is one of these 4xx codes (PROTOCOL.md does not say which).
        await expectTRPCError(f.gifts.sendGift.mutate({ sessionId: sess.id, giftId: 'gift_rose', recipientId: host.user.id, quantity: 1000 }),
          ['BAD_REQUEST', 'PAYMENT_REQUIRED', 'FORBIDDEN', 'CONFLICT', 'PRECONDITION_FAILED', 'UNPROCESSABLE_CONTENT']);
        assert.equal((await f.wallet.getBalance.query()).coins, tx.senderBalance, 'a refused gift debits nothing');
        const st = await h.streaming.endSession.mutate({ sessionId: sess.id });
        // ASSUMPTION: giftsReceived counts either gift items (2) or gift sends (1).
        assert.ok([1, 2].includes(st.giftsReceived), `stats.giftsReceived after one send of quantity 2: ${st.giftsReceived}`);
        assertNum(st.coinsEarned, 'stats.coinsEarned', { min: 0 });
      });
    }
  });

// ---------------------------------------------------------------------------------------------
// The batch limit (TRPC_MAX_BATCH, 50 by default; docs/protocol.md "Limits"), as the app meets it.

describe('batch limit (extension)', () => {
  const MAX = 50;
  // The links as the app would configure them (maxItems unset), counting the HTTP requests.
  const counted = (link, sj, extra = {}) => {
    const sent = [];
    const f = (url, init) => { sent.push(url); return timedFetch(url, init); };
    const opts = { url: trpcUrl(), fetch: f, ...extra };
    if (sj) opts.transformer = superjson;
    return { c: createTRPCClient({ links: [link(opts)] }), sent };
  };
  const LINKS = [
    ['httpBatchLink', httpBatchLink],
    ['httpBatchStreamLink', httpBatchStreamLink],
  ];
  const list = { type: 'all', limit: 1 };

  for (const [name, link] of LINKS) {
    for (const sj of [false, true]) {
      const what = `${name}${sj ? ', superjson' : ''}`;

      it(`${what}: ${MAX + 10} calls in one tick -> one request, every call rejects PAYLOAD_TOO_LARGE`, T, async () => {
        // Without maxItems the link puts every call of a tick into one request (maxItems and
        // maxURLLength default to Infinity); the server refuses it whole with one error that has
        // no data.path, which the client hands to every call of the batch.
        const { c, sent } = counted(link, sj);
        const calls = Array.from({ length: MAX + 10 }, () => c.streaming.getActiveSessions.query(list));
        const settled = await Promise.allSettled(calls);
        assert.equal(sent.length, 1, `one HTTP request for the batch: ${sent.length}`);
        for (const [i, r] of settled.entries()) {
          assert.equal(r.status, 'rejected', `call ${i} should reject`);
          const err = await expectTRPCError(Promise.reject(r.reason), 'PAYLOAD_TOO_LARGE');
          assert.equal(err.message, `a batch may hold at most ${MAX} calls, this one has ${MAX + 10}`,
            `call ${i}: the message the app shows`);
          assert.equal(err.data.path, undefined, 'a request-level error: no data.path');
          assert.equal(err.meta?.response?.status, 413, 'HTTP 413 on the response the client read');
        }

        // Mutations the same, over POST, and none of them runs (a guest would be created).
        const { c: m, sent: msent } = counted(link, sj);
        const guests = await Promise.allSettled(Array.from({ length: MAX + 1 },
          (_, i) => m.auth.guest.mutate({ displayName: `Over ${i} ${RUN}` })));
        assert.equal(msent.length, 1, 'one POST for the batch of mutations');
        for (const r of guests) {
          await expectTRPCError(Promise.reject(r.reason), 'PAYLOAD_TOO_LARGE');
          assert.match(r.reason.message, new RegExp(`at most ${MAX} calls, this one has ${MAX + 1}`));
        }
      });

      it(`${what}: ${MAX} calls in one tick (at the limit) -> one request, every call resolves`, T, async () => {
        const { c, sent } = counted(link, sj);
        const got = await Promise.all(Array.from({ length: MAX }, () => c.streaming.getActiveSessions.query(list)));
        assert.equal(sent.length, 1, 'one HTTP request');
        for (const v of got) assert.ok(Array.isArray(v), `a list: ${show(v)}`);
      });
    }
  }

  it(`httpBatchLink with maxItems: ${MAX}: ${MAX + 10} calls -> two requests, every call resolves`, T, async () => {
    // What an app sending larger bursts configures: the link splits the batch itself.
    const { c, sent } = counted(httpBatchLink, false, { maxItems: MAX });
    const got = await Promise.all(Array.from({ length: MAX + 10 }, () => c.streaming.getActiveSessions.query(list)));
    assert.equal(sent.length, 2, `two HTTP requests: ${sent.length}`);
    for (const v of got) assert.ok(Array.isArray(v));
  });
});

// ---------------------------------------------------------------------------------------------
// Raw HTTP: what @trpc/client does not show (statuses, exact error JSON).

describe('raw HTTP wire (fetch, no @trpc/client)', () => {
  const get = (path, headers = {}) => timedFetch(`${trpcUrl()}/${path}`, { headers });
  const q = (o) => encodeURIComponent(JSON.stringify(o));
  const checkErr = (e, code, path, what) => {
    const [rpc, http] = TRPC_CODES[code];
    assertObj(e, what);
    assert.equal(typeof e.message, 'string', `${what}.message`);
    assert.equal(e.code, rpc, `${what}.code is the JSON-RPC number ${rpc}`);
    assert.equal(e.data?.code, code, `${what}.data.code`);
    assert.equal(e.data?.httpStatus, http, `${what}.data.httpStatus`);
    if (path) assert.equal(e.data?.path, path, `${what}.data.path`);
  };

  it('batch with mixed results -> HTTP 207, per-call results (plain)', T, async () => {
    const path = 'streaming.getActiveSessions,streaming.getActiveSessions';
    const r = await get(`${path}?batch=1&input=${q({ 0: { type: 'all', limit: 20 }, 1: { type: 'all', limit: 0 } })}`);
    assert.equal(r.status, 207);
    assert.match(r.headers.get('content-type') || '', /application\/json/);
    const body = await r.json();
    assert.ok(Array.isArray(body) && body.length === 2, `batch answers an array of 2: ${show(body)}`);
    assert.ok(Array.isArray(body[0].result?.data), 'item 0 is {result:{data:[...]}}');
    checkErr(body[1].error, 'BAD_REQUEST', 'streaming.getActiveSessions', 'item 1 error');
    assert.ok(body[1].error.message.includes('limit'));
    assert.ok(Array.isArray(body[1].error.data.fieldErrors?.limit), 'data.fieldErrors.limit');

    const ok = await get(`${path}?batch=1&input=${q({ 0: { type: 'all', limit: 20 }, 1: { type: 'video', limit: 5 } })}`);
    assert.equal(ok.status, 200, 'all succeed -> 200');
    const allBad = await get(`${path}?batch=1&input=${q({ 0: { type: 'all', limit: 0 }, 1: { type: 'x', limit: 5 } })}`);
    assert.equal(allBad.status, 400, 'all fail with the same status -> that status');
  });

  it('batch with mixed results -> HTTP 207 (superjson envelopes, errors wrapped in json)', T, async () => {
    const path = 'streaming.getActiveSessions,users.getProfile';
    const input = { 0: { json: { type: 'all', limit: 20 } }, 1: { json: null, meta: { values: ['undefined'], v: 1 } } };
    const r = await get(`${path}?batch=1&input=${q(input)}`);
    assert.equal(r.status, 207);
    const body = await r.json();
    assert.ok(Array.isArray(body) && body.length === 2, show(body));
    assert.ok(Array.isArray(body[0].result?.data?.json), `item 0 data is a superjson envelope: ${show(body[0])}`);
    assert.ok(body[1].error?.json, `item 1 error is wrapped in {json:...}: ${show(body[1])}`);
    checkErr(body[1].error.json, 'UNAUTHORIZED', 'users.getProfile', 'item 1 error.json');
  });

  it('single-call errors: status = data.httpStatus, numeric JSON-RPC code', T, async () => {
    let r = await get(`streaming.getActiveSessions?input=${q({ type: 'all', limit: 0 })}`);
    assert.equal(r.status, 400);
    let b = await r.json();
    checkErr(b.error, 'BAD_REQUEST', 'streaming.getActiveSessions', 'validation error');
    assert.ok(b.error.message.includes('limit'), 'message names the field');
    assert.deepEqual(Object.keys(b.error.data.fieldErrors ?? {}), ['limit'], 'fieldErrors lists exactly the bad field');

    r = await get('users.getProfile');
    assert.equal(r.status, 401);
    checkErr((await r.json()).error, 'UNAUTHORIZED', 'users.getProfile', 'no token');

    r = await get('nope.missing');
    assert.equal(r.status, 404);
    checkErr((await r.json()).error, 'NOT_FOUND', 'nope.missing', 'unknown procedure');

    r = await get(`streaming.getActiveSessions?input=${encodeURIComponent('{not-json')}`);
    assert.equal(r.status, 400, 'malformed ?input');
    b = await r.json();
    assert.ok([-32600, -32700].includes(b.error.code), `malformed input: BAD_REQUEST or PARSE_ERROR, got ${b.error.code}`);

    // superjson request -> superjson-wrapped error
    r = await get(`streaming.getActiveSessions?input=${q({ json: { type: 'all', limit: 0 } })}`);
    assert.equal(r.status, 400);
    b = await r.json();
    assert.ok(b.error?.json, `superjson error is wrapped: ${show(b)}`);
    checkErr(b.error.json, 'BAD_REQUEST', 'streaming.getActiveSessions', 'superjson validation error');
  });

  it('success shapes: plain {result:{data}}, superjson {result:{data:{json,meta}}} with Date meta', T, async () => {
    const plain = await (await get(`streaming.getActiveSessions?input=${q({ type: 'all', limit: 5 })}`)).json();
    assert.ok(Array.isArray(plain.result?.data), show(plain));
    const sj = await (await get(`streaming.getActiveSessions?input=${q({ json: { type: 'all', limit: 5 } })}`)).json();
    assert.ok(Array.isArray(sj.result?.data?.json), show(sj));
    if (sj.result.data.json.length > 0) {
      const values = sj.result.data.meta?.values ?? {};
      assert.deepEqual(values['0.createdAt'], ['Date'], `superjson meta marks createdAt as Date: ${show(sj.result.data.meta)}`);
    }
  });

  // From fixtures/trpc rulesForAServer (reference-server behaviour; not needed by @trpc/client).
  it('method rules: GET on a mutation / POST on a query -> 405 METHOD_NOT_SUPPORTED', T, async () => {
    let r = await get(`chat.sendMessage?input=${q({ sessionId: 's', message: 'm', type: 'text' })}`);
    assert.equal(r.status, 405);
    checkErr((await r.json()).error, 'METHOD_NOT_SUPPORTED', 'chat.sendMessage', 'GET on mutation');
    r = await timedFetch(`${trpcUrl()}/streaming.getActiveSessions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'all', limit: 5 }),
    });
    assert.equal(r.status, 405);
    checkErr((await r.json()).error, 'METHOD_NOT_SUPPORTED', 'streaming.getActiveSessions', 'POST on query');
  });

  it('CORS in development: preflight 204, allow-origin *', T, async () => {
    const r = await timedFetch(`${trpcUrl()}/chat.sendMessage`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:8081',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,authorization,trpc-accept',
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const g = await timedFetch(`${trpcUrl()}/streaming.getActiveSessions?input=${q({ type: 'all', limit: 1 })}`,
      { headers: { origin: 'http://localhost:8081' } });
    assert.equal(g.status, 200);
    assert.equal(g.headers.get('access-control-allow-origin'), '*');
  });

  it('healthz answers 200', T, async () => {
    const r = await timedFetch(`${base()}/healthz`);
    assert.equal(r.status, 200);
  });

  it('a large answer comes gzipped (Vary: Accept-Encoding) and every client mode reads it', T, async () => {
    const pub = makeClient(MODES[0]);
    const host = await pub.auth.guest.mutate({ displayName: `Gzip host ${RUN}` });
    const h = makeClient(MODES[0], host.token);
    const made = [];
    for (let i = 0; i < 8; i++) {
      made.push(await h.streaming.createSession.mutate({ title: `An evening of music, number ${i} ${RUN}`, type: 'audio', category: 'music', isPrivate: false }));
    }
    try {
      const r = await get(`streaming.getActiveSessions?input=${q({ type: 'all', limit: 50 })}`, { 'accept-encoding': 'gzip' });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-encoding'), 'gzip', 'a list of 8+ sessions (over 1 KB) is gzipped');
      assert.match(r.headers.get('vary') || '', /accept-encoding/i);
      const plain = (await r.json()).result.data;
      for (const mode of MODES) {
        const got = await makeClient(mode).streaming.getActiveSessions.query({ type: 'all', limit: 50 });
        assert.ok(Array.isArray(got), `${mode.name}: an array`);
        for (const m of made) {
          assert.ok(got.some((x) => x.id === m.id), `${mode.name}: session ${m.id} listed`);
        }
        assert.equal(got.length, plain.length, `${mode.name}: the same list as the raw gzipped answer`);
      }
    } finally {
      for (const m of made) await h.streaming.endSession.mutate({ sessionId: m.id });
    }
  });
});
