// Chobi Live demo page: sign-in, the lobby, going live, and the way into a
// session (session.js). Speaks only the public contract (PROTOCOL.md).

import { ApiError, mutate, query, setToken, setUnauthorizedHandler } from './api.js';
import { $, $$, fill, h, icon, show } from './dom.js';
import { applyI18n, categoryLabel, fmtNum, getLang, initLang, onLangChange, setLang, t, tp } from './i18n.js';
import { MediaAccessError, getLocalMedia, stopStream } from './media.js';
import { LiveSession } from './session.js';
import { errorText, onViewChange, showView } from './ui.js';

const STORE_TOKEN = 'chobi.token';
const STORE_USER = 'chobi.user';
const LOBBY_REFRESH_MS = 4000;

const app = {
  me: null,
  live: null, // the LiveSession on screen
  pendingLocal: null, // {sessionId, stream}: the camera a host just opened, for its new session
  lobbyTimer: null,
  lobbyFilter: 'all',
  isDev: document.documentElement.dataset.env === 'development',
};
// For debugging in the console and for the end-to-end tests.
window.chobi = app;

// ---------------------------------------------------------------------------
// Sign-in

function saveAuth(res) {
  setToken(res.token);
  app.me = res.user;
  try {
    localStorage.setItem(STORE_TOKEN, res.token);
    localStorage.setItem(STORE_USER, JSON.stringify(res.user));
  } catch { /* private mode: the sign-in lasts this page */ }
  renderMe();
}

function signOut(reason) {
  app.live?.destroy({ leave: true });
  app.live = null;
  setToken(null);
  app.me = null;
  try {
    localStorage.removeItem(STORE_TOKEN);
    localStorage.removeItem(STORE_USER);
  } catch { /* ignore */ }
  renderMe();
  showAuthError(reason || '');
  showView('login');
}

function renderMe() {
  show($('#me'), !!app.me);
  show($('#logout'), !!app.me);
  fill($('#me-name'), app.me?.displayName || '');
}

function showAuthError(text) {
  const el = $('#auth-error');
  fill(el, text || '');
  show(el, !!text);
}

function fieldErrorText(e) {
  if (e instanceof ApiError && e.fieldErrors) {
    return Object.entries(e.fieldErrors).map(([f, msgs]) => `${t(`field.${f}`, {}, f)}: ${msgs.join(', ')}`).join(' · ');
  }
  return errorText(e);
}

function bindAuth() {
  for (const tab of $$('[data-auth-tab]')) {
    tab.addEventListener('click', () => {
      for (const other of $$('[data-auth-tab]')) other.setAttribute('aria-selected', String(other === tab));
      for (const f of $$('[data-auth-form]')) show(f, f.dataset.authForm === tab.dataset.authTab);
      showAuthError('');
    });
  }
  const submit = (form, fn) => form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    showAuthError('');
    try {
      saveAuth(await fn(new FormData(form)));
      form.reset();
      route();
    } catch (e) {
      showAuthError(e.code === 'UNAUTHORIZED' ? t('auth.badCredentials') : fieldErrorText(e));
    } finally {
      btn.disabled = false;
    }
  });
  submit($('#form-guest'), (d) => {
    const name = String(d.get('displayName') || '').trim();
    return mutate('auth.guest', name ? { displayName: name } : {});
  });
  submit($('#form-login'), (d) => mutate('auth.login', { username: String(d.get('username')).trim(), password: String(d.get('password')) }));
  submit($('#form-register'), (d) => {
    const input = { username: String(d.get('username')).trim(), password: String(d.get('password')) };
    const name = String(d.get('displayName') || '').trim();
    if (name) input.displayName = name;
    return mutate('auth.register', input);
  });
}

// ---------------------------------------------------------------------------
// Lobby: live sessions, refreshed while it is on screen

function startLobby() {
  stopLobby();
  refreshLobby();
  app.lobbyTimer = setInterval(() => { if (!document.hidden) refreshLobby(); }, LOBBY_REFRESH_MS);
}

function stopLobby() {
  clearInterval(app.lobbyTimer);
  app.lobbyTimer = null;
}

async function refreshLobby() {
  const err = $('#sessions-error');
  try {
    const list = await query('streaming.getActiveSessions', { type: app.lobbyFilter, limit: 50 });
    renderSessions(list);
    show(err, false);
  } catch (e) {
    fill(err, errorText(e));
    show(err, true);
  }
}

let lastSessions = [];
function renderSessions(list) {
  lastSessions = list;
  const ul = $('#sessions');
  const cards = new Map($$('li[data-session-id]', ul).map((li) => [li.dataset.sessionId, li]));
  const keep = [];
  for (const s of list) {
    let li = cards.get(s.id);
    if (!li) li = sessionCard(s);
    updateCard(li, s);
    keep.push(li);
  }
  ul.replaceChildren(...keep); // reorders in place (most viewers first) without rebuilding cards
  show($('#sessions-empty'), list.length === 0);
}

function sessionCard(s) {
  const li = h('li', { class: 'session-item', dataset: { sessionId: s.id } });
  const btn = h('button', { type: 'button', class: 'session-card', onclick: () => { location.hash = `#/s/${encodeURIComponent(s.id)}`; } },
    h('div', { class: `thumb ${s.type}` },
      icon(s.type === 'audio' ? 'mic' : 'video', 'thumb-icon'),
      h('span', { class: 'live-badge', 'data-i18n': 'session.live', text: t('session.live') }),
      h('span', { class: 'viewers', dataset: { value: '0' } }, icon('eye'), h('span', { class: 'n' }))),
    h('div', { class: 'meta' },
      h('div', { class: 'title', dir: 'auto' }),
      h('div', { class: 'sub' }, h('bdi', { class: 'host' }), ' · ', h('span', { class: 'category' }), ' · ', h('span', { class: 'type' }))));
  li.append(btn);
  return li;
}

function updateCard(li, s) {
  li.querySelector('.title').textContent = s.title;
  li.querySelector('.host').textContent = s.host?.displayName || '';
  li.querySelector('.category').textContent = categoryLabel(s.category);
  li.querySelector('.type').textContent = t(`type.${s.type}`);
  const v = li.querySelector('.viewers');
  v.dataset.value = String(s.viewerCount);
  v.querySelector('.n').textContent = fmtNum(s.viewerCount);
  v.setAttribute('aria-label', tp('viewers', s.viewerCount));
  v.title = tp('viewers', s.viewerCount);
  li.querySelector('.live-badge').textContent = t('session.live');
}

function bindLobby() {
  for (const b of $$('[data-filter]')) {
    b.addEventListener('click', () => {
      app.lobbyFilter = b.dataset.filter;
      for (const o of $$('[data-filter]')) o.setAttribute('aria-selected', String(o === b));
      refreshLobby();
    });
  }
  const form = $('#form-golive');
  const errEl = $('#golive-error');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const d = new FormData(form);
    const input = {
      title: String(d.get('title') || '').trim(),
      description: '',
      type: d.get('type') === 'audio' ? 'audio' : 'video',
      category: String(d.get('category') || 'chat'),
      isPrivate: d.get('isPrivate') === 'on',
    };
    show(errEl, false);
    if (!input.title) {
      fill(errEl, t('golive.needTitle'));
      show(errEl, true);
      return;
    }
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    fill(btn, t('golive.starting'));
    let stream = null;
    try {
      // The camera first: a refused camera must not leave a live session behind.
      stream = await getLocalMedia(input.type);
      const session = await mutate('streaming.createSession', input);
      app.pendingLocal = { sessionId: session.id, stream, session };
      form.reset();
      location.hash = `#/s/${encodeURIComponent(session.id)}`;
    } catch (e) {
      stopStream(stream);
      fill(errEl, e instanceof MediaAccessError ? t(`media.${e.reason}`) : fieldErrorText(e));
      errEl.dataset.reason = e instanceof MediaAccessError ? e.reason : (e.code || 'error');
      show(errEl, true);
    } finally {
      btn.disabled = false;
      fill(btn, t('golive.submit'));
    }
  });
  $('#form-private').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const d = new FormData(ev.target);
    let id = String(d.get('session') || '').trim();
    let code = String(d.get('code') || '').trim();
    const m = id.match(/#\/s\/([^?]+)(?:\?code=([^&]+))?/); // a pasted invite link
    if (m) { id = decode(m[1]); code = code || decode(m[2] || ''); }
    if (!id) return;
    location.hash = `#/s/${encodeURIComponent(id)}${code ? `?code=${encodeURIComponent(code)}` : ''}`;
  });
}

// ---------------------------------------------------------------------------
// Routing: #/ is the lobby, #/s/<id>[?code=<invite>] a session. The hash
// keeps a reload (or a reconnect after a long blip) in the same place.

function decode(s) {
  try { return decodeURIComponent(s); } catch { return ''; } // a mangled link
}

function parseHash() {
  const m = location.hash.match(/^#\/s\/([^?]+)(?:\?(.*))?$/);
  const sessionId = m ? decode(m[1]) : '';
  if (!sessionId) return { view: 'lobby' };
  const params = new URLSearchParams(m[2] || '');
  return { view: 'session', sessionId, inviteCode: params.get('code') || '' };
}

let routedHash = null;
function route() {
  if (!app.me) { showView('login'); return; }
  const r = parseHash();
  if (app.live && (r.view !== 'session' || r.sessionId !== app.live.id)) {
    if (app.live.isHost && !app.live.ended && !confirm(t('session.confirmLeaveHost'))) {
      history.replaceState(null, '', routedHash || `#/s/${encodeURIComponent(app.live.id)}`);
      return;
    }
    app.live.destroy({ leave: true });
    app.live = null;
  }
  routedHash = location.hash;
  if (r.view === 'session') {
    if (app.live) return;
    const pending = app.pendingLocal?.sessionId === r.sessionId ? app.pendingLocal : null;
    app.pendingLocal = null;
    app.live = new LiveSession({
      sessionId: r.sessionId, inviteCode: r.inviteCode, me: app.me, isDev: app.isDev,
      localStream: pending?.stream || null, created: pending?.session || null,
      onExit: () => { app.live = null; },
    });
    showView('session');
    app.live.start();
  } else {
    showView('lobby');
  }
}

// ---------------------------------------------------------------------------
// Boot

function bindHeader() {
  $('#lang').addEventListener('click', () => setLang(getLang() === 'ar' ? 'en' : 'ar'));
  $('#logout').addEventListener('click', () => signOut());
  onLangChange(() => {
    renderSessions(lastSessions);
    app.live?.relabel();
  });
}

async function boot() {
  initLang();
  applyI18n(document);
  bindHeader();
  bindAuth();
  bindLobby();
  onViewChange((name) => { if (name === 'lobby') startLobby(); else stopLobby(); });
  setUnauthorizedHandler(() => signOut(t('auth.expired')));
  window.addEventListener('hashchange', route);
  window.addEventListener('chobi:unauthorized', () => signOut(t('auth.expired')));
  $('#ended-back').addEventListener('click', () => {
    if (location.hash === '#/' || location.hash === '') route(); else location.hash = '#/';
  });
  let token = null;
  try {
    token = localStorage.getItem(STORE_TOKEN);
    app.me = JSON.parse(localStorage.getItem(STORE_USER) || 'null');
  } catch { /* no storage */ }
  if (token && app.me) {
    setToken(token);
    renderMe();
    try {
      const p = await query('users.getProfile', {});
      app.me = { ...app.me, ...p };
      renderMe();
    } catch (e) {
      if (e.code === 'UNAUTHORIZED') return; // signed out by the handler
      // Offline or the server restarting: carry on, calls will say so.
    }
  } else {
    app.me = null;
  }
  route();
}

boot();
