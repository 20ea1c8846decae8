// The /ws socket (PROTOCOL.md §2) with reconnection: an unexpected close, a
// missed pong or the browser coming back online reconnects with backoff, and
// the owner restores its place in onOpen (join_session again).

export class SocketError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'SocketError';
    this.code = code; // bad_request, forbidden, not_found, conflict, rate_limited, internal, disconnected, timeout
  }
}

const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 8000;

export class Socket {
  // url: the session's wsUrl; token: the JWT; onMessage(msg) for server-started
  // messages and unmatched errors; onStatus(state, detail) with state one of
  // connecting | open | reconnecting | unauthorized | closed; onOpen() after every (re)connect.
  constructor({ url, token, onMessage, onStatus, onOpen }) {
    this.url = url;
    this.token = token;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onOpen = onOpen;
    this.ws = null;
    this.seq = 0;
    this.pending = new Map();
    this.quiet = new Set(); // ids of fire-and-forget messages: their errors are only logged
    this.attempt = 0;
    this.closedByUs = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.onOnline = () => { if (this.state === 'reconnecting') this.retryNow(); };
    window.addEventListener('online', this.onOnline);
    this.state = 'idle';
  }

  setState(state, detail) {
    this.state = state;
    this.onStatus?.(state, detail);
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (this.closedByUs) return;
    const sep = this.url.includes('?') ? '&' : '?';
    let ws;
    try {
      ws = new WebSocket(`${this.url}${sep}token=${encodeURIComponent(this.token)}`);
    } catch (e) {
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
      this.onOpen?.();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.lastHeard = Date.now();
      if (msg.id && this.pending.has(msg.id)) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.type === 'error') p.reject(new SocketError(msg.code, msg.message));
        else p.resolve(msg);
        return;
      }
      if (msg.id && this.quiet.has(msg.id)) {
        this.quiet.delete(msg.id);
        if (msg.type === 'error') console.warn('socket:', msg.code, msg.message);
        return;
      }
      if (msg.type === 'pong') return;
      this.onMessage?.(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopPing();
      this.failPending('disconnected');
      if (this.closedByUs) { this.setState('closed'); return; }
      if (ev.code === 4401) { this.setState('unauthorized'); return; }
      this.setState('reconnecting', { code: ev.code });
      this.scheduleRetry(ev.code === 4429 ? 3000 : 0);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  scheduleRetry(minDelay = 0) {
    clearTimeout(this.retryTimer);
    const delay = Math.max(minDelay, Math.min(5000, 250 * 2 ** this.attempt)) + Math.random() * 250;
    this.attempt++;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  retryNow() {
    clearTimeout(this.retryTimer);
    this.connect();
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      this.request({ type: 'ping' }, PONG_WITHIN_MS).catch((e) => {
        // No pong: the connection is dead without the browser knowing yet.
        if (e.code === 'timeout') this.drop();
      });
    }, PING_EVERY_MS);
  }

  stopPing() { clearInterval(this.pingTimer); this.pingTimer = null; }

  failPending(code) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new SocketError(code));
    }
    this.pending.clear();
  }

  get isOpen() { return this.ws?.readyState === WebSocket.OPEN; }

  send(msg) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  // Sends a message that has no reply on success (set_quality); an error
  // reply is logged, not shown.
  sendQuiet(msg) {
    if (!this.isOpen) return false;
    const id = `q${++this.seq}`;
    this.quiet.add(id);
    if (this.quiet.size > 200) this.quiet.delete(this.quiet.values().next().value);
    this.ws.send(JSON.stringify({ ...msg, id }));
    return true;
  }

  // Sends a message with an id and resolves with the reply carrying it
  // (rejects with SocketError on an "error" reply, a timeout or a disconnect).
  request(msg, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) { reject(new SocketError('disconnected')); return; }
      const id = `r${++this.seq}`;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SocketError('timeout'));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...msg, id }));
    });
  }

  // Closes the connection as a network failure would: the socket reconnects.
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.stopPing();
    this.failPending('disconnected');
    try { ws.close(4000, 'reconnecting'); } catch { /* already closing */ }
    this.setState('reconnecting', { code: 4000 });
    this.scheduleRetry();
  }

  close() {
    this.closedByUs = true;
    clearTimeout(this.retryTimer);
    this.stopPing();
    window.removeEventListener('online', this.onOnline);
    this.failPending('disconnected');
    const ws = this.ws;
    this.ws = null;
    if (ws) { try { ws.close(1000, 'bye'); } catch { /* ignore */ } }
    this.setState('closed');
  }
}
