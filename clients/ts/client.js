// The Chobi Live socket and media client (docs/protocol.md): the /ws socket
// with requests matched to their replies and reconnection, and a live
// session's two PeerConnections (publisher: the client offers; subscriber:
// the server offers) with trickle ICE, publish_layers and media_failed.
//
// No DOM in here: the WebSocket and RTCPeerConnection classes are passed in
// (a browser's globals by default), so react-native-webrtc can drive it.
// Plain ES module, no build step; types in client.d.ts.

/** An error reply from the server, or the socket's own failure. */
export class SocketError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'SocketError';
    // The server's codes (socket.d.ts ErrorMessage["code"]), or
    // "disconnected" and "timeout" from this side.
    this.code = code;
  }
}

/** The three simulcast layers, as a browser offers them (rids q, h, f). */
export const SIMULCAST = Object.freeze([
  Object.freeze({ rid: 'q', scaleResolutionDownBy: 4 }),
  Object.freeze({ rid: 'h', scaleResolutionDownBy: 2 }),
  Object.freeze({ rid: 'f' }),
]);

const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_DROPPED = 4000; // ours: a connection that stopped answering
const CLOSE_RATE_LIMITED = 4429;

/**
 * The /ws socket: JSON messages, request() for those the server answers
 * (matched by id), on(type) for the rest. An unexpected close reconnects
 * with backoff and calls onOpen again, where the owner restores its place
 * (join_session); a 4401 close (bad token) does not reconnect. A ping
 * every pingEveryMs unanswered within pongWithinMs drops the connection
 * and reconnects: after a network change a phone's socket can stay "open"
 * long after its packets stopped arriving.
 */
export class ChobiSocket {
  constructor({
    url, token, WebSocket: WS = globalThis.WebSocket, onOpen, onStatus, requestTimeoutMs = 10000,
    pingEveryMs = 15000, pongWithinMs = 8000,
  }) {
    if (!WS) throw new Error('ChobiSocket: no WebSocket class: pass one as WebSocket');
    this.url = url;
    this.token = token;
    this.WS = WS;
    this.onOpen = onOpen;
    this.onStatus = onStatus;
    this.requestTimeoutMs = requestTimeoutMs;
    this.pingEveryMs = pingEveryMs;
    this.pongWithinMs = pongWithinMs;
    this.pingTimer = null;
    this.ws = null;
    this.seq = 0;
    this.pending = new Map();
    this.handlers = new Map();
    this.reopenHandlers = new Set();
    this.waiters = [];
    this.opened = false;
    this.attempt = 0;
    this.closed = false;
    this.retryTimer = null;
    this.state = 'idle';
  }

  setState(state, detail) {
    this.state = state;
    this.onStatus?.(state, detail);
  }

  /** Opens the socket (and reopens it after unexpected closes until close()). */
  connect() {
    clearTimeout(this.retryTimer);
    if (this.closed) return;
    const sep = this.url.includes('?') ? '&' : '?';
    let ws;
    try {
      ws = new this.WS(`${this.url}${sep}token=${encodeURIComponent(this.token)}`);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    if (this.state !== 'reconnecting') this.setState('connecting');
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.setState('open');
      this.startPing();
      const reopened = this.opened;
      this.opened = true;
      for (const w of this.waiters.splice(0)) w.resolve();
      this.onOpen?.();
      if (reopened) for (const fn of [...this.reopenHandlers]) fn();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.dispatch(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopPing();
      this.failPending('disconnected');
      if (this.closed) { this.setState('closed'); return; }
      if (ev.code === CLOSE_UNAUTHORIZED) {
        this.setState('unauthorized');
        for (const w of this.waiters.splice(0)) w.reject(new SocketError('unauthorized', 'the token was refused'));
        return;
      }
      this.setState('reconnecting', { code: ev.code });
      this.scheduleRetry(ev.code === CLOSE_RATE_LIMITED ? 3000 : 0);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  /** Connects if need be; resolves once the socket is open (rejects if its token is refused or it is closed). */
  open() {
    if (this.isOpen) return Promise.resolve();
    if (this.closed) return Promise.reject(new SocketError('disconnected'));
    const p = new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.ws && this.state !== 'reconnecting') this.connect();
    return p;
  }

  dispatch(msg) {
    if (msg.id && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'error') p.reject(new SocketError(msg.code, msg.message));
      else p.resolve(msg);
      return;
    }
    for (const fn of [...(this.handlers.get(msg.type) || []), ...(this.handlers.get('*') || [])]) {
      try { fn(msg); } catch (e) { console.error('chobi socket handler', msg.type, e); }
    }
  }

  scheduleRetry(minDelay = 0) {
    clearTimeout(this.retryTimer);
    const delay = Math.max(minDelay, Math.min(5000, 250 * 2 ** this.attempt)) + Math.random() * 250;
    this.attempt++;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  startPing() {
    this.stopPing();
    if (!(this.pingEveryMs > 0)) return;
    this.pingTimer = setInterval(() => {
      this.request({ type: 'ping' }, this.pongWithinMs).catch((e) => {
        if (e.code === 'timeout') this.drop();
      });
    }, this.pingEveryMs);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** Closes the connection as a network failure would, and reconnects at once (the app saw the network come back). */
  retryNow() {
    if (this.closed) return;
    if (this.ws) this.drop(0);
    else this.connect();
  }

  /** Drops the connection as a network failure would: it reconnects. */
  drop(minDelay) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.stopPing();
    this.failPending('disconnected');
    try { ws.close(CLOSE_DROPPED, 'reconnecting'); } catch { /* closing */ }
    this.setState('reconnecting', { code: CLOSE_DROPPED });
    if (minDelay === 0) this.connect();
    else this.scheduleRetry();
  }

  failPending(code) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new SocketError(code));
    }
    this.pending.clear();
  }

  get isOpen() { return this.ws !== null && this.ws.readyState === 1; }

  /** Calls fn with every message of type ("*": all) not taken as a reply; returns the unsubscribe. */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type)?.delete(fn);
  }

  /** Calls fn after every reconnect (not the first connect); returns the unsubscribe. */
  onReopen(fn) {
    this.reopenHandlers.add(fn);
    return () => this.reopenHandlers.delete(fn);
  }

  /** Sends a message as it is; false when the socket is not open. */
  send(msg) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Sends msg with a fresh id; resolves with the reply carrying it, rejects with a SocketError. */
  request(msg, timeoutMs = this.requestTimeoutMs) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) { reject(new SocketError('disconnected')); return; }
      const id = `k${++this.seq}`;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SocketError('timeout'));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...msg, id }));
    });
  }

  /** Closes for good. */
  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.stopPing();
    this.failPending('disconnected');
    for (const w of this.waiters.splice(0)) w.reject(new SocketError('disconnected'));
    const ws = this.ws;
    this.ws = null;
    if (ws) { try { ws.close(1000, 'bye'); } catch { /* closing */ } }
    this.setState('closed');
  }
}

function candidateInit(c) {
  if (!c || !c.candidate) return null; // the end of candidates
  return { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
}

// Remote candidates wait for the remote description; local ones for the
// offer or answer they belong to to have gone out (the server drops
// candidates of a PeerConnection it has no description for).
class Trickle {
  constructor(pc, send) {
    this.pc = pc;
    this.send = send;
    this.remoteReady = false;
    this.remoteQueue = [];
    this.localReady = false;
    this.localQueue = [];
    pc.addEventListener('icecandidate', (e) => {
      const c = candidateInit(e.candidate);
      if (this.localReady) this.send(c);
      else this.localQueue.push(c);
    });
  }

  addRemote(c) {
    if (!c || !c.candidate) return;
    if (!this.remoteReady) { this.remoteQueue.push(c); return; }
    this.pc.addIceCandidate(c).catch((e) => console.warn('chobi addIceCandidate', e));
  }

  remoteSet() {
    this.remoteReady = true;
    for (const c of this.remoteQueue.splice(0)) this.addRemote(c);
  }

  localSent() {
    this.localReady = true;
    for (const c of this.localQueue.splice(0)) this.send(c);
  }

  // A new negotiation (ICE restart): local candidates wait for its offer.
  renegotiating() {
    this.localReady = false;
  }
}

/**
 * Opus DTX: marks the Opus of the server's answer usedtx=1 (the server
 * takes DTX), so the sender sends a packet every 400 ms instead of 50 a
 * second while the mic is silent. A remote description is ours to read.
 */
export function withOpusDTX(sdp) {
  const opus = [...sdp.matchAll(/^a=rtpmap:(\d+) opus\/48000/gim)].map((m) => m[1]);
  return sdp.split('\r\n').map((line) => {
    const m = /^a=fmtp:(\d+) (.*)$/.exec(line);
    return m && opus.includes(m[1]) && !/usedtx=/.test(m[2]) ? `${line};usedtx=1` : line;
  }).join('\r\n');
}

// Opus RED (RFC 2198) first: each audio packet also carries the previous
// frame, so one lost packet costs no sound. The server forwards RED to
// viewers that take it and the plain Opus inside to the others.
function preferRED(transceiver, Sender) {
  const codecs = Sender?.getCapabilities?.('audio')?.codecs;
  if (!codecs || !transceiver.setCodecPreferences) return;
  const isRED = (c) => c.mimeType.toLowerCase() === 'audio/red';
  if (!codecs.some(isRED)) return;
  try {
    transceiver.setCodecPreferences([...codecs.filter(isRED), ...codecs.filter((c) => !isRED(c))]);
  } catch (e) {
    console.warn('chobi: RED refused, sending plain Opus', e);
  }
}

function watchFailure(pc, isClosed, onFailed) {
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'failed' && !isClosed()) onFailed();
  });
}

/**
 * The publisher PeerConnection: the client offers its tracks, send-only,
 * video with simulcast, audio with RED and DTX where the platform has them.
 */
export class Publisher {
  constructor({
    RTCPeerConnection: PC, RTCRtpSender: Sender = globalThis.RTCRtpSender, iceServers, signal, onFailed,
    simulcast = true, red = true, dtx = true,
  }) {
    this.signal = signal; // offer(sdp) → Promise<answer sdp>; candidate(init | null)
    this.simulcast = simulcast;
    this.Sender = red ? Sender : null;
    this.dtx = dtx;
    this.closed = false;
    this.pc = new PC({ iceServers: iceServers || [], bundlePolicy: 'max-bundle' });
    this.trickle = new Trickle(this.pc, signal.candidate);
    this.chain = Promise.resolve();
    watchFailure(this.pc, () => this.closed, () => onFailed?.());
  }

  /** Adds tracks (each with its stream) and negotiates. */
  publish(tracks) {
    for (const { track, stream } of tracks) {
      const init = { direction: 'sendonly', streams: stream ? [stream] : [] };
      if (track.kind === 'video' && this.simulcast) {
        try {
          this.pc.addTransceiver(track, { ...init, sendEncodings: SIMULCAST.map((e) => ({ ...e })) });
          continue;
        } catch (e) {
          console.warn('chobi: simulcast refused, sending one layer', e);
        }
      }
      const tr = this.pc.addTransceiver(track, init);
      if (track.kind === 'audio') preferRED(tr, this.Sender);
    }
    return this.negotiate({});
  }

  /** Offers again with new ICE credentials (after a network change); media goes on on the same tracks. */
  restartIce() {
    return this.negotiate({ iceRestart: true });
  }

  negotiate(options) {
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      if (options.iceRestart) this.trickle.renegotiating();
      const offer = await this.pc.createOffer(options);
      await this.pc.setLocalDescription(offer);
      const answering = this.signal.offer(this.pc.localDescription.sdp);
      this.trickle.localSent();
      const sdp = await answering;
      if (this.closed) return;
      await this.pc.setRemoteDescription({ type: 'answer', sdp: this.dtx ? withOpusDTX(sdp) : sdp });
      this.trickle.remoteSet();
    });
    return this.chain;
  }

  addRemoteCandidate(c) { this.trickle.addRemote(c); }

  /**
   * publish_layers (dynacast): sends only the simulcast layers someone
   * receives. Calls run one after another, as setParameters needs.
   */
  setLayers(trackId, active) {
    this.layers = (this.layers || Promise.resolve()).then(async () => {
      if (this.closed) return;
      const sender = this.pc.getSenders().find((s) => s.track && s.track.id === trackId);
      const params = sender && sender.getParameters();
      if (!params || !params.encodings || params.encodings.length < 2) return;
      let changed = false;
      for (const e of params.encodings) {
        const on = !e.rid || active.includes(e.rid);
        if (e.active !== on) { e.active = on; changed = true; }
      }
      if (changed) await sender.setParameters(params);
    }).catch((e) => { if (!this.closed) console.warn('chobi publish_layers', e); });
    return this.layers;
  }

  close() {
    this.closed = true;
    try { this.pc.close(); } catch { /* closed */ }
  }
}

/** The subscriber PeerConnection: answers the server's offers, one at a time, in order. */
export class Subscriber {
  constructor({ RTCPeerConnection: PC, iceServers, signal, onTrack, onFailed }) {
    this.signal = signal; // answer(sdp); candidate(init | null)
    this.closed = false;
    this.chain = Promise.resolve();
    this.pc = new PC({ iceServers: iceServers || [], bundlePolicy: 'max-bundle' });
    this.trickle = new Trickle(this.pc, signal.candidate);
    this.pc.addEventListener('track', (e) => onTrack?.(e.track, e.streams || []));
    watchFailure(this.pc, () => this.closed, () => onFailed?.());
  }

  handleOffer(sdp) {
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      this.trickle.remoteSet();
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      this.signal.answer(this.pc.localDescription.sdp);
      this.trickle.localSent();
    }).catch((e) => { if (!this.closed) console.error('chobi subscribe_offer', e); });
    return this.chain;
  }

  addRemoteCandidate(c) { this.trickle.addRemote(c); }

  close() {
    this.closed = true;
    try { this.pc.close(); } catch { /* closed */ }
  }
}

/**
 * One live session over a ChobiSocket: join() makes the user present and
 * answers the server's subscribe offers; publish() (host and co-hosts)
 * opens the publisher PeerConnection. Candidates, publish_layers and
 * media_failed are handled here: after media_failed, a failed
 * PeerConnection or a reconnected socket, the session is joined again
 * with new PeerConnections and the same tracks published again. Every
 * other message reaches the socket's on().
 */
export class LiveSession {
  constructor({
    socket, sessionId, RTCPeerConnection: PC = globalThis.RTCPeerConnection, RTCRtpSender: Sender = globalThis.RTCRtpSender,
    onTrack, onMediaFailed,
  }) {
    if (!PC) throw new Error('LiveSession: no RTCPeerConnection class: pass one as RTCPeerConnection');
    this.socket = socket;
    this.sessionId = sessionId;
    this.PC = PC;
    this.Sender = Sender;
    this.onTrack = onTrack;
    this.onMediaFailed = onMediaFailed;
    this.iceServers = [];
    this.subscriber = null;
    this.publisher = null;
    this.published = [];
    this.closed = false;
    this.joined = false;
    const mine = (fn) => (m) => { if (m.sessionId === this.sessionId && !this.closed) fn(m); };
    this.off = [
      socket.on('subscribe_offer', mine((m) => this.ensureSubscriber().handleOffer(m.sdp))),
      socket.on('ice_candidate', mine((m) => {
        const pc = m.target === 'publisher' ? this.publisher : this.subscriber;
        pc?.addRemoteCandidate(m.candidate);
      })),
      socket.on('publish_layers', mine((m) => this.publisher?.setLayers(m.trackId, m.active || []))),
      socket.on('media_failed', mine((m) => this.recover(m.target))),
      socket.on('session_ended', mine(() => this.closeMedia())),
      socket.on('removed', mine(() => this.closeMedia())),
      socket.onReopen(() => { if (this.joined && !this.closed) this.recover('socket'); }),
    ];
  }

  /** join_session: resolves with session_joined (role, participants, iceServers). */
  async join() {
    const joined = await this.socket.request({ type: 'join_session', sessionId: this.sessionId });
    this.iceServers = joined.iceServers || [];
    this.joined = true;
    return joined;
  }

  ensureSubscriber() {
    if (!this.subscriber) {
      this.subscriber = new Subscriber({
        RTCPeerConnection: this.PC,
        iceServers: this.iceServers,
        signal: {
          answer: (sdp) => this.socket.send({ type: 'subscribe_answer', sessionId: this.sessionId, sdp }),
          candidate: (c) => this.socket.send({ type: 'ice_candidate', sessionId: this.sessionId, target: 'subscriber', candidate: c }),
        },
        onTrack: (track, streams) => this.onTrack?.(track, streams),
        onFailed: () => this.recover('subscriber'),
      });
    }
    return this.subscriber;
  }

  /** Publishes tracks ([{track, stream}]); resolves once the server answered. */
  publish(tracks, options = {}) {
    this.publishOptions = options;
    if (!this.publisher) {
      this.publisher = new Publisher({
        ...options,
        RTCPeerConnection: this.PC,
        RTCRtpSender: this.Sender,
        iceServers: this.iceServers,
        signal: {
          offer: (sdp) => this.socket.request({ type: 'publish_offer', sessionId: this.sessionId, sdp }, 15000).then((m) => m.sdp),
          candidate: (c) => this.socket.send({ type: 'ice_candidate', sessionId: this.sessionId, target: 'publisher', candidate: c }),
        },
        onFailed: () => this.recover('publisher'),
      });
    }
    this.published.push(...tracks);
    return this.publisher.publish(tracks);
  }

  /** The subscriber's wish for one track's layer (set_quality). */
  setQuality(trackId, quality) {
    return this.socket.send({ type: 'set_quality', sessionId: this.sessionId, trackId, quality });
  }

  /** Restarts ICE after a network change: the server's subscriber
   * connection (restart_ice: a new subscribe_offer follows) and the
   * publisher's (an offer with iceRestart). */
  restartIce() {
    if (this.subscriber) this.socket.send({ type: 'restart_ice', sessionId: this.sessionId });
    return this.publisher ? this.publisher.restartIce() : Promise.resolve();
  }

  // media_failed, a PeerConnection that failed or a new socket: new
  // PeerConnections from a new join_session, with the same tracks
  // published again.
  async recover(target) {
    if (this.closed || this.recovering) return;
    this.recovering = true;
    try {
      this.onMediaFailed?.(target);
      this.closeMedia();
      await this.join();
      const tracks = this.published.splice(0);
      if (tracks.length) await this.publish(tracks, this.publishOptions);
    } catch (e) {
      console.warn('chobi: rejoining for new media failed', e);
    } finally {
      this.recovering = false;
    }
  }

  closeMedia() {
    this.subscriber?.close();
    this.publisher?.close();
    this.subscriber = null;
    this.publisher = null;
  }

  /** leave_session, and closes both PeerConnections. */
  async leave() {
    this.close();
    try { await this.socket.request({ type: 'leave_session', sessionId: this.sessionId }); } catch { /* gone */ }
  }

  close() {
    this.closed = true;
    for (const off of this.off) off();
    this.closeMedia();
  }
}
