// One live session on screen: the socket, the two PeerConnections, the stage,
// chat, gifts, co-hosts and moderation. Everything follows PROTOCOL.md §2.

import { getToken, mutate, query } from './api.js';
import { $, $$, fill, giftIcon, h, icon, randomId, show } from './dom.js';
import { categoryLabel, fmtNum, giftName, t, tn, tp } from './i18n.js';
import { Publisher, StatsMeter, Subscriber, getLocalMedia, stopStream } from './media.js';
import { Socket } from './socket.js';
import { errorText, showEnded, toast } from './ui.js';

const CHAT_KEEP = 300; // messages kept on screen
const TOPUP_COINS = 100;
const ROLE_ORDER = { host: 0, 'co-host': 1, pending: 2, viewer: 3 };

function defaultWsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

function bdi(text, cls = 'name') {
  return h('bdi', { class: cls, text: text || '' });
}

function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString(document.documentElement.lang || undefined, { hour: '2-digit', minute: '2-digit' });
}

export class LiveSession {
  constructor({ sessionId, inviteCode, me, isDev, localStream, created, onExit }) {
    this.id = sessionId;
    this.inviteCode = inviteCode || '';
    this.me = me;
    this.isDev = isDev;
    this.localStream = localStream || null;
    this.session = created || null;
    this.onExit = onExit;
    this.role = created ? 'host' : null;
    this.ended = false;
    this.destroyed = false;
    this.ac = new AbortController();
    this.socket = null;
    this.subscriber = null;
    this.publisher = null;
    this.pubSeq = 0;
    this.iceServers = [];
    this.people = new Map(); // userId → {userId, displayName, role}
    this.stage = []; // the last "tracks" participants
    this.remoteStreams = new Map(); // streamId → MediaStream
    this.dirtyStreams = new Set();
    this.tiles = new Map(); // userId → tile element
    this.viewerCount = 0;
    this.chatIds = new Set();
    this.requests = new Map(); // userId → user asking to co-host (host only)
    this.speaking = new Set();
    this.speakersAt = 0;
    this.quality = 'auto';
    this.qualitySent = new Map(); // trackId → quality asked of the server
    this.statsOn = true;
    this.meter = new StatsMeter();
    this.gifts = null;
    this.giftsState = 'loading'; // loading | ready | missing | error
    this.balance = null;
    this.walletMissing = false;
    this.joinedOnce = false;
    this.joins = 0; // completed join_session: 1, then one more per reconnection
    this.trackEvents = 0; // remote tracks received
    this.recovering = false;
    this.micOn = true;
    this.camOn = true;
    this.autoplayBlocked = false;
    this.renderQueued = false;
  }

  get isHost() { return this.role === 'host'; }
  get onStage() { return this.role === 'host' || this.role === 'co-host'; }

  // -------------------------------------------------------------------------
  // Lifecycle

  async start() {
    this.resetView();
    this.bindUI();
    let join;
    try {
      const input = { sessionId: this.id, role: 'viewer' };
      if (this.inviteCode) input.inviteCode = this.inviteCode;
      join = await mutate('streaming.joinSession', input);
    } catch (e) {
      if (this.destroyed) return;
      if (e.code === 'NOT_FOUND') this.finish({ titleKey: 'ended.title', reasonKey: 'ended.notLive' });
      else if (e.code === 'FORBIDDEN') this.finish({ titleKey: 'session.cannotJoin', reasonKey: 'session.forbiddenJoin' });
      else this.finish({ titleKey: 'session.cannotJoin', reason: errorText(e) });
      return;
    }
    if (this.destroyed) return;
    this.session = join.session;
    if (!this.role || join.role !== 'viewer') this.role = join.role;
    this.iceServers = join.iceServers || [];
    this.setViewerCount(join.session?.viewerCount ?? 0);
    this.renderHeader();
    this.renderControls();
    this.socket = new Socket({
      url: join.wsUrl || join.session?.wsUrl || defaultWsUrl(),
      token: getToken(),
      onMessage: (m) => this.onMessage(m),
      onStatus: (s) => this.onSocketStatus(s),
      onOpen: () => this.join(),
    });
    this.socket.connect();
    this.loadChat();
    this.loadWallet();
    this.statsTimer = setInterval(() => this.tickStats(), 1000);
  }

  // join_session on every (re)connect: the place in the session is restored
  // and the media starts again on fresh PeerConnections.
  async join() {
    let joined;
    try {
      joined = await this.socket.request({ type: 'join_session', sessionId: this.id });
    } catch (e) {
      if (this.destroyed) return;
      if (e.code === 'timeout') { this.socket.drop(); return; }
      if (e.code === 'disconnected') return; // the socket retries
      if (e.code === 'not_found') this.finish({ titleKey: 'ended.title', reasonKey: 'ended.notLive' });
      else if (e.code === 'forbidden') this.finish({ titleKey: 'session.cannotJoin', reasonKey: 'session.forbiddenJoin' });
      else this.finish({ titleKey: 'session.cannotJoin', reason: errorText(e) });
      return;
    }
    if (this.destroyed) return;
    this.joins++;
    this.recovering = false;
    if (joined.role !== 'viewer' || this.role !== 'pending') this.role = joined.role;
    this.iceServers = joined.iceServers || this.iceServers;
    this.people = new Map((joined.participants || []).map((p) => [p.userId, { ...p }]));
    this.setViewerCount(joined.viewerCount);
    this.closeMedia();
    this.subscriber = new Subscriber({
      iceServers: this.iceServers,
      signal: {
        answer: (sdp) => this.socket.send({ type: 'subscribe_answer', sessionId: this.id, sdp }),
        candidate: (c) => this.socket.send({ type: 'ice_candidate', sessionId: this.id, target: 'subscriber', candidate: c }),
      },
      onTrack: (track, stream) => {
        this.trackEvents++;
        this.remoteStreams.set(stream.id, stream);
        this.dirtyStreams.add(stream.id);
        track.addEventListener('unmute', () => this.queueRender());
        this.queueRender();
      },
      onFailed: () => this.recover(),
    });
    if (this.joinedOnce) {
      show($('#banner'), false);
      toast(t('conn.restored'), 'ok', 3000);
      this.loadChat();
      this.loadWallet();
    }
    this.joinedOnce = true;
    this.renderControls();
    this.renderPeople();
    this.renderStage();
    if (this.onStage) this.startPublishing();
  }

  // A PeerConnection failed or the server closed it (media_failed): start
  // over on a fresh socket, which keeps the place in the session.
  recover() {
    if (this.recovering || this.destroyed || this.ended) return;
    this.recovering = true;
    this.socket?.drop();
  }

  closeMedia() {
    this.publisher?.close();
    this.publisher = null;
    this.subscriber?.close();
    this.subscriber = null;
    this.remoteStreams.clear();
    this.qualitySent.clear();
    this.meter = new StatsMeter();
  }

  destroy({ leave = false } = {}) {
    if (this.destroyed) return;
    this.destroyed = true;
    if (leave && !this.ended && this.socket?.isOpen) this.socket.send({ type: 'leave_session', sessionId: this.id });
    this.ac.abort();
    clearInterval(this.statsTimer);
    clearTimeout(this.endTimer);
    this.pubSeq++;
    this.closeMedia();
    stopStream(this.localStream);
    this.localStream = null;
    this.socket?.close();
    for (const tile of this.tiles.values()) {
      const v = tile.querySelector('video');
      if (v) v.srcObject = null;
    }
    this.tiles.clear();
    $('#stage').replaceChildren();
    $('#gift-layer').replaceChildren();
    show($('#banner'), false);
  }

  // The session is over for this page: ended, removed or refused.
  finish(info) {
    if (this.ended && this.destroyed) return;
    this.ended = true;
    this.destroy();
    this.onExit?.();
    showEnded({ sessionTitle: this.session?.title || '', ...info });
  }

  onSocketStatus(state) {
    const banner = $('#banner');
    if (state === 'reconnecting') {
      // The server closed our PeerConnections with the socket; the tiles
      // stay, frozen, until the media comes back.
      this.closeMedia();
      this.markTilesWaiting();
      fill(banner, t('conn.reconnecting'));
      banner.dataset.state = 'reconnecting';
      show(banner, true);
    } else if (state === 'unauthorized') {
      window.dispatchEvent(new CustomEvent('chobi:unauthorized'));
    }
  }

  // -------------------------------------------------------------------------
  // Server messages

  onMessage(m) {
    if (m.sessionId && m.sessionId !== this.id && m.type !== 'notification') return;
    switch (m.type) {
      case 'subscribe_offer': this.subscriber?.handleOffer(m.sdp); break;
      case 'publish_layers': this.publisher?.setLayers(m.trackId, m.active || []); break;
      case 'ice_candidate':
        if (m.target === 'publisher') this.publisher?.addRemoteCandidate(m.candidate);
        else this.subscriber?.addRemoteCandidate(m.candidate);
        break;
      case 'tracks': this.onTracks(m.participants || []); break;
      case 'speakers':
        this.speakersAt = Date.now();
        this.speaking = new Set((m.speakers || []).filter((s) => (s.level ?? 1) > 0).map((s) => s.userId));
        this.renderSpeaking();
        break;
      case 'new_message': if (m.message) this.addChat(m.message); break;
      case 'gift_animation': this.playGift(m); break;
      case 'viewer_joined':
        if (m.user && !this.people.has(m.user.id)) this.people.set(m.user.id, { userId: m.user.id, displayName: m.user.displayName, role: 'viewer' });
        this.setViewerCount(m.viewerCount);
        this.renderPeople();
        break;
      case 'viewer_left':
        if (m.user && this.people.get(m.user.id)?.role !== 'host') this.people.delete(m.user.id);
        if (m.user) this.requests.delete(m.user.id);
        this.setViewerCount(m.viewerCount);
        this.renderPeople();
        this.renderRequests();
        break;
      case 'cohost_request':
        if (this.isHost && m.user) {
          this.requests.set(m.user.id, m.user);
          this.renderRequests();
          toast(tn('cohost.asks', { name: bdi(m.user.displayName) }), 'info', 6000);
        }
        break;
      case 'role_changed': this.onRoleChanged(m.role); break;
      case 'removed':
        this.finish({ titleKey: 'removed.title', reasonKey: m.banned ? 'removed.banned' : 'removed.reason' });
        break;
      case 'session_ended':
        this.finish({ titleKey: this.isHost ? 'ended.yours' : 'ended.title', stats: m.stats });
        break;
      case 'media_failed': this.recover(); break;
      case 'notification':
        if (m.notification?.title) toast(m.notification.title, 'info');
        break;
      case 'error':
        toast(errorText(m), 'error');
        break;
      default:
        break; // messages this page does not use
    }
  }

  onTracks(participants) {
    const before = this.stage.map((p) => `${p.userId}:${p.role}`).join();
    this.stage = participants;
    const onStage = new Set(participants.map((p) => p.userId));
    for (const p of participants) {
      this.people.set(p.userId, { userId: p.userId, displayName: p.displayName, role: p.role });
    }
    for (const [id, p] of this.people) {
      // Off the stage and not a viewer: it left (or was removed).
      if ((p.role === 'co-host') && !onStage.has(id)) this.people.delete(id);
    }
    this.renderStage();
    this.renderPeople();
    this.renderGifts();
    this.applyQuality();
    if (before !== participants.map((p) => `${p.userId}:${p.role}`).join()) this.refreshCount();
  }

  onRoleChanged(role) {
    const prev = this.role;
    this.role = role;
    if (role === 'co-host' && prev !== 'co-host') {
      toast(t('cohost.accepted'), 'ok');
      this.startPublishing();
    } else if (role === 'viewer') {
      if (prev === 'pending') toast(t('cohost.refused'), 'warn');
      if (prev === 'co-host') {
        this.stopPublishing();
        toast(t('cohost.offStage'), 'info');
      }
    }
    const me = this.people.get(this.me.id);
    if (me) me.role = role;
    this.renderControls();
    this.renderStage();
    this.renderPeople();
  }

  setViewerCount(n) {
    if (typeof n !== 'number') return;
    this.viewerCount = n;
    const el = $('#s-viewers');
    el.dataset.value = String(n);
    fill(el.querySelector('.n'), fmtNum(n));
    el.setAttribute('aria-label', tp('viewers', n));
    el.title = tp('viewers', n);
  }

  // Stage changes do not come with a count: ask for it.
  refreshCount() {
    clearTimeout(this.countTimer);
    this.countTimer = setTimeout(async () => {
      try {
        const s = await query('streaming.getSession', { sessionId: this.id });
        if (!this.destroyed) this.setViewerCount(s.viewerCount);
      } catch { /* the events will tell */ }
    }, 300);
  }

  // -------------------------------------------------------------------------
  // Publishing (host and co-hosts)

  async startPublishing() {
    const seq = ++this.pubSeq;
    try {
      if (!this.localStream || this.localStream.getTracks().every((tr) => tr.readyState === 'ended')) {
        this.localStream = await getLocalMedia(this.session?.type || 'video');
      }
    } catch (e) {
      if (seq !== this.pubSeq) return;
      this.mediaError = e;
      toast(errorText(e), 'error', 10000);
      this.renderStage();
      return;
    }
    if (seq !== this.pubSeq || this.destroyed || !this.onStage || !this.socket?.isOpen) return;
    this.mediaError = null;
    for (const tr of this.localStream.getAudioTracks()) tr.enabled = this.micOn;
    for (const tr of this.localStream.getVideoTracks()) tr.enabled = this.camOn;
    this.publisher?.close();
    const pub = new Publisher({
      stream: this.localStream,
      iceServers: this.iceServers,
      signal: {
        offer: (sdp) => this.socket.request({ type: 'publish_offer', sessionId: this.id, sdp }, 15000).then((m) => m.sdp),
        candidate: (c) => this.socket.send({ type: 'ice_candidate', sessionId: this.id, target: 'publisher', candidate: c }),
      },
      onFailed: () => this.recover(),
    });
    this.publisher = pub;
    this.renderStage();
    try {
      await pub.start();
    } catch (e) {
      if (pub !== this.publisher || pub.closed || e.code === 'disconnected') return;
      toast(`${t('err.publish')} ${errorText(e)}`, 'error');
    }
  }

  stopPublishing() {
    this.pubSeq++;
    this.publisher?.close();
    this.publisher = null;
    stopStream(this.localStream);
    this.localStream = null;
  }

  toggleTrack(kind) {
    if (kind === 'audio') this.micOn = !this.micOn; else this.camOn = !this.camOn;
    const on = kind === 'audio' ? this.micOn : this.camOn;
    for (const tr of this.localStream?.getTracks() || []) if (tr.kind === kind) tr.enabled = on;
    this.renderControls();
  }

  // -------------------------------------------------------------------------
  // The stage: host and co-hosts, one tile each

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    queueMicrotask(() => { this.renderQueued = false; if (!this.destroyed) this.renderStage(); });
  }

  stageList() {
    const list = this.stage.filter((p) => p.role === 'host' || p.role === 'co-host' || p.tracks?.length);
    if (this.onStage && !list.some((p) => p.userId === this.me.id)) {
      list.push({ userId: this.me.id, displayName: this.me.displayName, role: this.role, tracks: [] });
    }
    return list.sort((a, b) => (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9));
  }

  renderStage() {
    const stageEl = $('#stage');
    const list = this.stageList();
    const keep = new Set(list.map((p) => p.userId));
    for (const [id, tile] of this.tiles) {
      if (!keep.has(id)) {
        const v = tile.querySelector('video');
        if (v) v.srcObject = null;
        tile.remove();
        this.tiles.delete(id);
      }
    }
    const ordered = list.map((p) => this.updateTile(p));
    const current = Array.from(stageEl.children);
    if (ordered.length !== current.length || ordered.some((el, i) => el !== current[i])) stageEl.replaceChildren(...ordered);
    stageEl.dataset.count = String(ordered.length);
    show($('#stage-empty'), ordered.length === 0);
    this.renderSpeaking();
  }

  makeTile(p, isMe) {
    const video = h('video', { autoplay: true, playsinline: true });
    if (isMe) {
      video.muted = true; // never hear yourself
      video.classList.add('mirror');
    }
    return h('figure', { class: 'tile', dataset: { userId: p.userId } },
      video,
      h('div', { class: 'avatar', 'aria-hidden': 'true' }, h('span', { class: 'initial' })),
      h('div', { class: 'tile-state' }),
      h('figcaption', { class: 'label' },
        h('span', { class: 'speak', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
        h('bdi', { class: 'name' }),
        h('span', { class: 'role' })),
      h('div', { class: 'stats', hidden: !this.statsOn }));
  }

  updateTile(p) {
    const isMe = p.userId === this.me.id;
    let tile = this.tiles.get(p.userId);
    if (!tile) {
      tile = this.makeTile(p, isMe);
      this.tiles.set(p.userId, tile);
    }
    tile.dataset.role = p.role;
    tile.dataset.me = String(isMe);
    tile.querySelector('.name').textContent = p.displayName || '';
    tile.querySelector('.role').textContent = t(`role.${p.role}`);
    tile.querySelector('.initial').textContent = Array.from((p.displayName || '?').trim())[0] || '?';
    const video = tile.querySelector('video');
    let stream = null;
    let hasVideo = false;
    if (isMe) {
      stream = this.localStream;
      hasVideo = !!stream?.getVideoTracks().length && this.camOn;
    } else {
      const streamId = p.tracks?.find((tr) => tr.streamId)?.streamId;
      stream = streamId ? this.remoteStreams.get(streamId) || null : null;
      hasVideo = !!p.tracks?.some((tr) => tr.kind === 'video') && !!stream?.getVideoTracks().length;
    }
    tile.dataset.video = String(hasVideo);
    let state = 'live';
    if (isMe && this.mediaError) state = 'error';
    else if (!stream) state = (!isMe && !p.tracks?.length) ? 'idle' : 'connecting';
    tile.dataset.state = state;
    const stateText = { error: this.mediaError ? t(`media.${this.mediaError.reason || 'failed'}`) : '', connecting: t('stage.connecting'), idle: t('stage.notPublishing') }[state] || '';
    fill(tile.querySelector('.tile-state'), stateText);
    const dirty = stream && this.dirtyStreams.has(stream.id);
    if (video.srcObject !== stream || dirty) {
      if (dirty) this.dirtyStreams.delete(stream.id);
      video.srcObject = stream;
      if (stream) this.play(video, isMe);
    }
    return tile;
  }

  play(video, isMe) {
    if (!isMe && this.autoplayBlocked) video.muted = true;
    const p = video.play();
    if (!p) return;
    p.catch((e) => {
      if (e?.name !== 'NotAllowedError' || isMe) return;
      // No sound without a gesture (Safari, a fresh tab): play muted and
      // offer a button that turns the sound on.
      this.autoplayBlocked = true;
      video.muted = true;
      video.play().catch(() => {});
      show($('#unmute'), true);
    });
  }

  unmuteAll() {
    this.autoplayBlocked = false;
    for (const [id, tile] of this.tiles) {
      if (id === this.me.id) continue;
      const v = tile.querySelector('video');
      v.muted = false;
      v.play().catch(() => {});
    }
    show($('#unmute'), false);
  }

  markTilesWaiting() {
    for (const [id, tile] of this.tiles) {
      if (id !== this.me.id) {
        tile.dataset.state = 'connecting';
        fill(tile.querySelector('.tile-state'), t('stage.connecting'));
      }
    }
  }

  renderSpeaking() {
    for (const [id, tile] of this.tiles) tile.classList.toggle('speaking', this.speaking.has(id));
  }

  // -------------------------------------------------------------------------
  // Quality and the stats overlay

  applyQuality() {
    for (const p of this.stage) {
      if (p.userId === this.me.id) continue;
      for (const tr of p.tracks || []) {
        if (tr.kind !== 'video' || !tr.layers?.length) continue;
        if ((this.qualitySent.get(tr.trackId) || 'auto') === this.quality) continue;
        if (this.socket?.sendQuiet({ type: 'set_quality', sessionId: this.id, trackId: tr.trackId, quality: this.quality })) {
          this.qualitySent.set(tr.trackId, this.quality);
        }
      }
    }
  }

  async tickStats() {
    if (this.destroyed || document.hidden) return;
    let inbound = new Map();
    let outbound = null;
    try {
      if (this.subscriber) inbound = await this.meter.inbound(this.subscriber.pc);
      if (this.publisher) outbound = await this.meter.outbound(this.publisher.pc);
    } catch { return; }
    if (this.destroyed) return;
    const fallbackSpeaking = Date.now() - this.speakersAt > 4000; // no "speakers" from the server lately
    let speakingChanged = false;
    for (const p of this.stageList()) {
      const tile = this.tiles.get(p.userId);
      if (!tile) continue;
      let fig = null;
      let level = null;
      if (p.userId === this.me.id) {
        fig = outbound;
        level = outbound?.audioLevel ?? null;
      } else {
        const stream = this.remoteStreams.get(p.tracks?.find((tr) => tr.streamId)?.streamId);
        const vid = stream?.getVideoTracks()[0]?.id || p.tracks?.find((tr) => tr.kind === 'video')?.trackId;
        const aud = stream?.getAudioTracks()[0]?.id || p.tracks?.find((tr) => tr.kind === 'audio')?.trackId;
        const v = vid ? inbound.get(vid) : null;
        const a = aud ? inbound.get(aud) : null;
        fig = v || a || null;
        if (v && a && v.kbps != null && a.kbps != null) fig = { ...v, kbps: v.kbps + a.kbps };
        level = a?.audioLevel ?? null;
      }
      this.renderStats(tile, fig);
      if (fallbackSpeaking && level != null) {
        const on = level > 0.05;
        if (on !== this.speaking.has(p.userId)) {
          if (on) this.speaking.add(p.userId); else this.speaking.delete(p.userId);
          speakingChanged = true;
        }
      }
    }
    if (speakingChanged) this.renderSpeaking();
  }

  renderStats(tile, fig) {
    const el = tile.querySelector('.stats');
    show(el, this.statsOn && !!fig);
    if (!fig) return;
    const parts = [];
    if (fig.width) parts.push([t('stats.res'), `${fig.width}×${fig.height}`]);
    parts.push([t('stats.rate'), fig.kbps == null ? '…' : `${Math.round(fig.kbps)} kb/s`]);
    parts.push([t('stats.loss'), `${(100 * (fig.loss || 0)).toFixed(1)}%`]);
    parts.push([t('stats.rtt'), fig.rttMs == null ? '…' : `${Math.round(fig.rttMs)} ms`]);
    el.replaceChildren(...parts.map(([k, v]) => h('span', {}, h('b', { text: k }), ' ', h('bdi', { dir: 'ltr', text: v }))));
    Object.assign(el.dataset, {
      width: String(fig.width || 0), height: String(fig.height || 0), kbps: String(Math.round(fig.kbps || 0)),
      loss: String(fig.loss || 0), rtt: String(fig.rttMs == null ? '' : Math.round(fig.rttMs)),
    });
  }

  // -------------------------------------------------------------------------
  // Chat

  async loadChat() {
    try {
      const list = await query('chat.getMessages', { sessionId: this.id, limit: 50 });
      if (!this.destroyed) for (const m of list) this.addChat(m);
    } catch (e) {
      if (!this.destroyed && e.code !== 'NOT_FOUND') console.warn('chat history', e);
    }
  }

  addChat(m) {
    if (this.chatIds.has(m.id)) return;
    this.chatIds.add(m.id);
    const ts = Date.parse(m.createdAt) || Date.now();
    const li = h('li', { class: `msg${m.userId === this.me.id ? ' mine' : ''}`, dataset: { id: m.id, userId: m.userId, ts: String(ts) } },
      h('bdi', { class: 'author', text: m.displayName || '' }), ' ',
      h('span', { class: 'text', dir: 'auto', text: m.message }), ' ',
      h('time', { datetime: m.createdAt, text: fmtTime(m.createdAt) }));
    this.insertChat(li, ts);
  }

  addSystem(content) {
    const li = h('li', { class: 'sys', dataset: { ts: String(Date.now()) } }, content);
    this.insertChat(li, Date.now());
  }

  insertChat(li, ts) {
    const list = $('#chat');
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    let before = null;
    for (let el = list.lastElementChild; el; el = el.previousElementSibling) {
      if (Number(el.dataset.ts) <= ts) break;
      before = el;
    }
    list.insertBefore(li, before);
    while (list.children.length > CHAT_KEEP) list.firstElementChild.remove();
    if (nearBottom || li.classList.contains('mine')) list.scrollTop = list.scrollHeight;
  }

  async sendChat() {
    const input = $('#chat-input');
    const text = input.value;
    const err = $('#chat-error');
    show(err, false);
    if (!text.trim()) return;
    if (Array.from(text).length > 500) {
      fill(err, t('chat.tooLong'));
      show(err, true);
      return;
    }
    const btn = $('#chat-send');
    btn.disabled = true;
    try {
      const m = await mutate('chat.sendMessage', { sessionId: this.id, message: text, type: 'text' });
      this.addChat(m);
      input.value = '';
    } catch (e) {
      fill(err, errorText(e));
      show(err, true);
    } finally {
      btn.disabled = false;
      input.focus();
    }
  }

  // -------------------------------------------------------------------------
  // Gifts and the wallet (absent until the server serves them: said so)

  async loadWallet() {
    const [gifts, balance] = await Promise.allSettled([
      query('gifts.getAvailableGifts'),
      query('wallet.getBalance'),
    ]);
    if (this.destroyed) return;
    if (gifts.status === 'fulfilled' && Array.isArray(gifts.value)) {
      this.gifts = gifts.value;
      this.giftsState = 'ready';
    } else {
      this.gifts = null;
      this.giftsState = gifts.reason?.missingProcedure ? 'missing' : 'error';
      this.giftsError = gifts.reason;
    }
    if (balance.status === 'fulfilled') {
      this.walletMissing = false;
      this.balance = balance.value?.coins ?? null;
    } else {
      this.walletMissing = !!balance.reason?.missingProcedure;
      try {
        const p = await query('users.getProfile', {}); // coins are in one's own profile too
        this.balance = typeof p.coins === 'number' ? p.coins : null;
      } catch { this.balance = null; }
    }
    this.renderGifts();
  }

  setBalance(n) {
    if (typeof n === 'number') this.balance = n;
    this.renderGifts();
  }

  giftError(text) {
    const el = $('#gift-error');
    fill(el, text || '');
    show(el, !!text);
  }

  renderGifts() {
    if (this.destroyed) return;
    const bal = $('#balance');
    bal.dataset.value = this.balance == null ? '' : String(this.balance);
    fill(bal.querySelector('.n'), this.balance == null ? '—' : fmtNum(this.balance));
    show($('#topup'), this.isDev);
    const note = $('#gift-note');
    const noteText = {
      loading: t('gifts.loading'),
      missing: t('gifts.unavailable'),
      error: this.giftsError ? errorText(this.giftsError) : t('err.generic'),
    }[this.giftsState] || '';
    fill(note, noteText);
    note.dataset.state = this.giftsState;
    show(note, !!noteText);
    // Recipients: whoever is on stage but me; the host first.
    const sel = $('#gift-recipient');
    const prev = sel.value;
    const recipients = this.stageList().filter((p) => p.userId !== this.me.id);
    if (!recipients.length && this.session && this.session.hostId !== this.me.id) {
      recipients.push({ userId: this.session.hostId, displayName: this.session.host?.displayName || '', role: 'host' });
    }
    sel.replaceChildren(...recipients.map((p) => h('option', { value: p.userId, text: `${p.displayName} (${t(`role.${p.role}`)})` })));
    if (recipients.some((p) => p.userId === prev)) sel.value = prev;
    show($('#gift-to'), recipients.length > 0);
    const list = $('#gift-list');
    list.replaceChildren();
    if (this.giftsState !== 'ready') return;
    for (const g of this.gifts) {
      list.append(h('li', {},
        h('button', {
          type: 'button', class: 'gift', dataset: { giftId: g.id, price: String(g.price) },
          disabled: this.sendingGift || !recipients.length,
          onclick: () => this.sendGift(g),
        },
        giftIcon(g, 'gift-icon'),
        h('span', { class: 'gift-name', dir: 'auto', text: giftName(g) }),
        h('span', { class: 'price' }, icon('coin', 'coin'), fmtNum(g.price)))));
    }
    if (!recipients.length) this.giftError(t('gifts.noRecipient'));
  }

  async sendGift(g) {
    this.giftError('');
    const recipientId = $('#gift-recipient').value;
    if (!recipientId) return;
    if (this.balance != null && g.price > this.balance) {
      this.giftError(this.isDev ? t('gifts.notEnoughDev') : t('gifts.notEnough'));
      return;
    }
    this.sendingGift = true;
    this.renderGifts();
    try {
      const tx = await mutate('gifts.sendGift', {
        sessionId: this.id, giftId: g.id, recipientId, quantity: 1, idempotencyKey: randomId(),
      });
      if (typeof tx?.senderBalance === 'number') this.balance = tx.senderBalance;
      else this.loadWallet();
      toast(tn('gifts.sent', { gift: bdi(giftName(g)) }), 'ok', 3000);
    } catch (e) {
      this.giftError(e.missingProcedure ? t('gifts.unavailable') : errorText(e));
    } finally {
      this.sendingGift = false;
      this.renderGifts();
    }
  }

  async topUp() {
    this.giftError('');
    const btn = $('#topup');
    btn.disabled = true;
    try {
      const r = await mutate('wallet.topUp', { amount: TOPUP_COINS, idempotencyKey: randomId() });
      this.setBalance(r.coins);
      toast(t('wallet.toppedUp', { n: fmtNum(TOPUP_COINS) }), 'ok', 3000);
    } catch (e) {
      this.giftError(e.missingProcedure ? t('wallet.unavailable') : errorText(e));
    } finally {
      btn.disabled = false;
    }
  }

  playGift(m) {
    const gift = { ...(this.gifts?.find((g) => g.id === m.gift?.id) || {}), ...(m.gift || {}) };
    const qty = m.quantity || 1;
    const sender = m.sender?.displayName || '';
    const el = h('div', { class: 'gift-anim', dataset: { giftId: gift.id || '', senderId: m.sender?.id || '' } },
      giftIcon(gift, 'gift-big'),
      h('div', { class: 'gift-text' },
        tn('gifts.animation', { name: bdi(sender), gift: bdi(giftName(gift), 'gift-name') }),
        qty > 1 ? ` ×${fmtNum(qty)}` : ''),
      m.message ? h('div', { class: 'gift-msg', dir: 'auto', text: m.message }) : null);
    $('#gift-layer').append(el);
    setTimeout(() => el.remove(), 4500);
    this.addSystem(h('span', {}, giftIcon(gift, 'icon'), ' ', tn('gifts.animation', { name: bdi(sender), gift: bdi(giftName(gift), 'gift-name') }),
      qty > 1 ? ` ×${fmtNum(qty)}` : ''));
  }

  // -------------------------------------------------------------------------
  // Co-hosts and moderation

  async requestCoHost() {
    const btn = $('#cohost-btn');
    btn.disabled = true;
    try {
      const input = { sessionId: this.id, role: 'co-host' };
      if (this.inviteCode) input.inviteCode = this.inviteCode;
      const r = await mutate('streaming.joinSession', input);
      if (r.role === 'pending') {
        this.role = 'pending';
        toast(t('cohost.requested'), 'info');
      } else if (r.role === 'co-host' && this.role !== 'co-host') {
        this.onRoleChanged('co-host');
      }
    } catch (e) {
      toast(errorText(e), 'error');
    } finally {
      btn.disabled = false;
      this.renderControls();
    }
  }

  answerRequest(userId, accept) {
    this.socket?.send({ type: 'cohost_response', sessionId: this.id, userId, accept });
    this.requests.delete(userId);
    this.renderRequests();
  }

  renderRequests() {
    const box = $('#requests');
    const list = $('#request-list');
    list.replaceChildren();
    for (const u of this.requests.values()) {
      list.append(h('li', { dataset: { userId: u.id } },
        h('span', { class: 'req-text' }, tn('cohost.asks', { name: bdi(u.displayName) })),
        h('span', { class: 'req-actions' },
          h('button', { type: 'button', class: 'btn small primary accept', onclick: () => this.answerRequest(u.id, true), text: t('cohost.accept') }),
          h('button', { type: 'button', class: 'btn small refuse', onclick: () => this.answerRequest(u.id, false), text: t('cohost.refuse') }))));
    }
    show(box, this.isHost && this.requests.size > 0);
  }

  renderPeople() {
    const ul = $('#people');
    const people = Array.from(this.people.values())
      .sort((a, b) => (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9) || (a.displayName || '').localeCompare(b.displayName || ''));
    ul.replaceChildren(...people.map((p) => {
      const isMe = p.userId === this.me.id;
      const actions = [];
      if (this.isHost && !isMe && p.role !== 'host') {
        if (p.role === 'viewer' || p.role === 'pending') {
          actions.push(h('button', {
            type: 'button', class: 'btn small invite', text: t('people.invite'),
            onclick: () => this.socket?.send({ type: 'invite_cohost', sessionId: this.id, userId: p.userId }),
          }));
        }
        actions.push(h('button', {
          type: 'button', class: 'btn small danger remove', text: t('people.remove'),
          onclick: () => this.socket?.send({ type: 'remove_participant', sessionId: this.id, userId: p.userId, ban: false }),
        }));
        actions.push(h('button', {
          type: 'button', class: 'btn small danger ban', text: t('people.ban'), title: t('people.banHint'),
          onclick: () => this.socket?.send({ type: 'remove_participant', sessionId: this.id, userId: p.userId, ban: true }),
        }));
      }
      return h('li', { dataset: { userId: p.userId, role: p.role } },
        h('span', { class: 'who' }, bdi(p.displayName), isMe ? h('span', { class: 'you', text: t('people.you') }) : null,
          h('span', { class: `role-badge ${p.role}`, text: t(`role.${p.role}`) })),
        h('span', { class: 'actions' }, actions));
    }));
    fill($('#people-count'), fmtNum(this.people.size));
  }

  // -------------------------------------------------------------------------
  // The view

  resetView() {
    $('#stage').replaceChildren();
    $('#chat').replaceChildren();
    $('#gift-layer').replaceChildren();
    $('#people').replaceChildren();
    $('#request-list').replaceChildren();
    show($('#requests'), false);
    show($('#invite'), false);
    show($('#unmute'), false);
    show($('#chat-error'), false);
    this.giftError('');
    fill($('#s-title'), this.session?.title || '');
    fill($('#s-host'), '');
    fill($('#s-category'), '');
    $('#quality').value = 'auto';
    $('#chat-input').value = '';
    this.showPanel('chat');
    this.setViewerCount(0);
    this.renderControls();
    this.renderGifts();
  }

  bindUI() {
    const on = (sel, ev, fn) => $(sel).addEventListener(ev, fn, { signal: this.ac.signal });
    on('#leave', 'click', () => { location.hash = '#/'; });
    on('#end', 'click', () => this.endClick());
    on('#quality', 'change', (e) => { this.quality = e.target.value; this.applyQuality(); });
    on('#stats-toggle', 'click', () => {
      this.statsOn = !this.statsOn;
      $('#stats-toggle').setAttribute('aria-pressed', String(this.statsOn));
      for (const tile of this.tiles.values()) show(tile.querySelector('.stats'), this.statsOn);
    });
    on('#cohost-btn', 'click', () => this.requestCoHost());
    on('#mic-btn', 'click', () => this.toggleTrack('audio'));
    on('#cam-btn', 'click', () => { this.toggleTrack('video'); this.renderStage(); });
    on('#form-chat', 'submit', (e) => { e.preventDefault(); this.sendChat(); });
    on('#topup', 'click', () => this.topUp());
    on('#unmute', 'click', () => this.unmuteAll());
    on('#copy-invite', 'click', () => this.copyInvite());
    for (const tab of $$('[data-panel]')) tab.addEventListener('click', () => this.showPanel(tab.dataset.panel), { signal: this.ac.signal });
    window.addEventListener('beforeunload', (e) => {
      if (this.isHost && !this.ended) { e.preventDefault(); e.returnValue = ''; }
    }, { signal: this.ac.signal });
    $('#stats-toggle').setAttribute('aria-pressed', String(this.statsOn));
  }

  showPanel(name) {
    for (const tab of $$('[data-panel]')) tab.setAttribute('aria-selected', String(tab.dataset.panel === name));
    for (const p of $$('.panel')) show(p, p.id === `panel-${name}`);
  }

  async endClick() {
    const btn = $('#end');
    if (!this.endArmed) {
      this.endArmed = true;
      fill(btn, t('session.endConfirm'));
      btn.classList.add('armed');
      this.endTimer = setTimeout(() => {
        this.endArmed = false;
        btn.classList.remove('armed');
        fill(btn, t('session.end'));
      }, 5000);
      return;
    }
    clearTimeout(this.endTimer);
    btn.disabled = true;
    try {
      const stats = await mutate('streaming.endSession', { sessionId: this.id });
      this.finish({ titleKey: 'ended.yours', stats });
    } catch (e) {
      toast(errorText(e), 'error');
    } finally {
      btn.disabled = false;
      btn.classList.remove('armed');
      this.endArmed = false;
      fill(btn, t('session.end'));
    }
  }

  inviteLink() {
    const code = this.session?.inviteCode;
    return `${location.origin}${location.pathname}#/s/${encodeURIComponent(this.id)}${code ? `?code=${encodeURIComponent(code)}` : ''}`;
  }

  async copyInvite() {
    try {
      await navigator.clipboard.writeText(this.inviteLink());
      toast(t('invite.copied'), 'ok', 2500);
    } catch {
      const input = $('#invite-link');
      input.select();
    }
  }

  renderHeader() {
    const s = this.session;
    if (!s) return;
    fill($('#s-title'), s.title);
    fill($('#s-host'), s.host?.displayName || '');
    fill($('#s-category'), categoryLabel(s.category));
    fill($('#s-type'), t(`type.${s.type}`));
    const showInvite = this.isHost && s.isPrivate && !!s.inviteCode;
    show($('#invite'), showInvite);
    if (showInvite) {
      fill($('#invite-code'), s.inviteCode);
      $('#invite-link').value = this.inviteLink();
    }
  }

  renderControls() {
    const viewerLike = this.role === 'viewer' || this.role === 'pending';
    const co = $('#cohost-btn');
    show(co, viewerLike);
    co.disabled = this.role === 'pending';
    fill(co, this.role === 'pending' ? t('cohost.pending') : t('cohost.ask'));
    show($('.controls .quality'), this.session?.type !== 'audio'); // no layers to choose from in an audio session
    show($('#end'), this.isHost);
    show($('#leave'), !this.isHost);
    show($('#mic-btn'), this.onStage);
    show($('#cam-btn'), this.onStage && this.session?.type !== 'audio');
    const mic = $('#mic-btn');
    mic.setAttribute('aria-pressed', String(!this.micOn));
    fill(mic, this.micOn ? t('media.micOff') : t('media.micOn'));
    const cam = $('#cam-btn');
    cam.setAttribute('aria-pressed', String(!this.camOn));
    fill(cam, this.camOn ? t('media.camOff') : t('media.camOn'));
    fill($('#s-role'), this.role ? t(`role.${this.role}`) : '');
    $('#view-session').dataset.role = this.role || '';
    if (!this.endArmed) fill($('#end'), t('session.end'));
  }

  // The language changed: draw again what was drawn from strings.
  relabel() {
    if (this.destroyed) return;
    this.renderHeader();
    this.renderControls();
    this.renderStage();
    this.renderPeople();
    this.renderRequests();
    this.renderGifts();
    this.setViewerCount(this.viewerCount);
  }
}
