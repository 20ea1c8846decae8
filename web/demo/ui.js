// Page-wide UI pieces: views, toasts, error messages, the end-of-stream screen.

import { $, $$, fill, h, show } from './dom.js';
import { fmtNum, onLangChange, t } from './i18n.js';
import { MediaAccessError } from './media.js';

let viewHook = null;
// fn(name) runs whenever the view changes (the lobby starts and stops its refresh).
export function onViewChange(fn) { viewHook = fn; }

export function showView(name) {
  for (const v of $$('main > .view')) show(v, v.id === `view-${name}`);
  document.body.dataset.view = name;
  viewHook?.(name);
  window.scrollTo(0, 0);
}

export function toast(text, kind = 'info', ms = 5000) {
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' });
  el.append(typeof text === 'string' ? document.createTextNode(text) : text);
  $('#toasts').append(el);
  setTimeout(() => el.remove(), ms);
  return el;
}

// A user-facing message for an API, socket or media error.
export function errorText(e) {
  if (e instanceof MediaAccessError) return t(`media.${e.reason}`);
  const code = e?.code;
  if (code === 'NETWORK' || code === 'disconnected' || code === 'timeout') return t('err.network');
  if (code === 'TOO_MANY_REQUESTS' || code === 'rate_limited') return t('err.rateLimited');
  if (code === 'UNAUTHORIZED' || code === 'unauthorized') return t('err.unauthorized');
  const msg = e?.message || '';
  if (code === 'FORBIDDEN' || code === 'forbidden') return msg ? `${t('err.forbidden')} (${msg})` : t('err.forbidden');
  if (code === 'INTERNAL_SERVER_ERROR' || code === 'internal') return t('err.server');
  return msg || t('err.generic');
}

export function fmtDurationText(sec) {
  sec = Math.max(0, Math.round(Number(sec) || 0));
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  const two = (n) => fmtNum(n, { minimumIntegerDigits: 2 });
  return hh ? `${fmtNum(hh)}:${two(mm)}:${two(ss)}` : `${fmtNum(mm)}:${two(ss)}`;
}

// The end-of-stream screen: {titleKey, reasonKey, reason, stats}. Kept so a
// language switch can draw it again.
let lastEnded = null;
export function showEnded(info) {
  lastEnded = info;
  renderEnded(info);
  showView('ended');
}

function renderEnded({ titleKey = 'ended.title', reasonKey = '', reason = '', stats = null, sessionTitle = '' }) {
  fill($('#ended-title'), t(titleKey));
  const st = $('#ended-session');
  fill(st, sessionTitle || '');
  show(st, !!sessionTitle);
  const r = $('#ended-reason');
  const text = reasonKey ? t(reasonKey) : reason;
  fill(r, text || '');
  show(r, !!text);
  const dl = $('#ended-stats');
  dl.replaceChildren();
  if (stats) {
    const rows = [
      ['duration', fmtDurationText(stats.duration)],
      ['peakViewers', fmtNum(stats.peakViewers ?? 0)],
      ['totalViewers', fmtNum(stats.totalViewers ?? 0)],
      ['messages', fmtNum(stats.messages ?? 0)],
      ['giftsReceived', fmtNum(stats.giftsReceived ?? 0)],
      ['coinsEarned', fmtNum(stats.coinsEarned ?? 0)],
    ];
    for (const [k, v] of rows) {
      dl.append(h('div', { class: 'stat', dataset: { stat: k, value: String(stats[k] ?? 0) } },
        h('dt', { text: t(`stats.${k}`) }), h('dd', { text: v })));
    }
  }
  show(dl, !!stats);
}

onLangChange(() => {
  if (lastEnded && document.body.dataset.view === 'ended') renderEnded(lastEnded);
});
