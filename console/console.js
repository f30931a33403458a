// The conversa agent console: static files, no build step, no framework. It signs in with
// a JWT (a development token from the local stack, or one pasted for a deployed stack),
// keeps one WebSocket open for live events and, on each event, refetches what the screen
// shows from the HTTP API (the event says what changed, the API gives the truth).
// See docs/console.md.

import { Api, ApiError, decodeToken, defaultWsUrl, trimBase } from './api.js';
import { Live } from './live.js';
import { wanted } from './refresh.js';
import { rules, stateLabel, windowOpen } from './rules.js';

const SETTINGS_KEY = 'conversa.console.settings'; // localStorage: what the sign-in form had
const SESSION_KEY = 'conversa.console.session'; // sessionStorage: api, ws, token
const POLL_WHEN_OFFLINE_MS = 15000; // refetch this often while the WebSocket is down
const SAFETY_REFRESH_MS = 60000; // and this often anyway

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** A DOM element: h('li', {class: 'x', dataset: {id}}, 'text', child…). Text is text. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replace an element's children, skipping the empty ones (null, false, undefined). */
function put(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
}

/** True when `el` already shows what `key` describes (then a re-render is skipped, so a
 *  refetch that changed nothing neither replaces a button under the pointer nor loses a
 *  text selection). */
function unchanged(el, key) {
  if (el.dataset.sig === key) return true;
  el.dataset.sig = key;
  return false;
}

// ---------------------------------------------------------------------------------------
// State

const S = {
  api: null,
  live: null,
  me: null, // {sub, role, queues}
  wsUrl: '',
  liveState: 'connecting',
  wasOpen: false,
  lastEvent: null,
  queues: new Map(), // id -> {id, name, assignment}
  queueOrder: [],
  stats: new Map(), // id -> stats | {error}
  queueFilter: null,
  lists: { waiting: [], mine: [], progress: [], archived: [] },
  listsLoaded: false,
  tab: 'waiting',
  names: new Map(), // contact -> name (from details and message.received)
  openId: null,
  conv: null,
  messages: [],
  renderedFor: null,
  templates: new Map(), // channel -> [template]
  template: null, // the picked template
  preview: null,
  drafts: new Map(),
  agents: null,
  agentsError: null,
  offset: 0, // server clock - browser clock (ms), from the stats' `at`
  timers: [],
};

const serverNow = () => Date.now() + S.offset;

// ---------------------------------------------------------------------------------------
// Formatting

function fmtDuration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hrs = Math.floor(s / 3600);
  s -= hrs * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d ${hrs}h`;
  if (hrs) return `${hrs}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

function fmtTime(ms) {
  if (ms == null) return '';
  const d = new Date(ms);
  const today = new Date(serverNow());
  return d.toDateString() === today.toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

function fmtPhone(digits) {
  return digits ? `+${digits}` : '';
}

function contactLabel(c) {
  return S.names.get(c.contact) || fmtPhone(c.contact);
}

function errorText(e) {
  if (e instanceof ApiError) return `${e.message} (${e.code})`;
  return e && e.message ? e.message : String(e);
}

let noticeTimer = null;
function notice(text, kind = 'error', ms = 7000) {
  const el = $('#notice');
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, ms);
}

// ---------------------------------------------------------------------------------------
// Sign in / out

function loadSettings() {
  try { return JSON.parse(localStorage.getItem(SETTINGS_KEY) || '{}'); } catch { return {}; }
}

async function loadConfig() {
  // A static host may ship config.json beside index.html:
  // {"apiBaseUrl": "https://…", "webSocketUrl": "wss://…"}.
  try {
    const r = await fetch('config.json', { cache: 'no-store' });
    if (r.ok) return await r.json();
  } catch { /* none */ }
  return {};
}

async function showSignIn(message = '') {
  const config = await loadConfig();
  const saved = loadSettings();
  const params = new URLSearchParams(location.search);
  const form = $('#signin-form');
  const origin = location.origin && location.origin !== 'null' ? location.origin : 'http://127.0.0.1:3000';
  form.api.value = params.get('api') || saved.api || config.apiBaseUrl || origin;
  form.ws.value = params.get('ws') ?? saved.ws ?? config.webSocketUrl ?? '';
  if (saved.sub) form.sub.value = saved.sub;
  if (saved.role) form.role.value = saved.role;
  if (saved.queues !== undefined) form.queues.value = saved.queues;
  form.token.value = '';
  $('[data-testid=signin-error]').textContent = message;
  $('#app').hidden = true;
  $('#signin').hidden = false;
  document.title = 'conversa · sign in';
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const mode = (event.submitter && event.submitter.value) || 'dev';
  const error = $('[data-testid=signin-error]');
  error.textContent = '';
  const api = trimBase(form.api.value);
  const ws = form.ws.value.trim();
  try {
    try { new URL(api); } catch { throw new Error(`"${api}" is not a URL (e.g. http://127.0.0.1:3000)`); }
    if (ws) {
      let u;
      try { u = new URL(ws); } catch { throw new Error(`"${ws}" is not a WebSocket URL`); }
      if (!/^wss?:$/.test(u.protocol)) throw new Error('the WebSocket URL starts with ws:// or wss://');
    }
    let token;
    if (mode === 'dev') {
      const queues = form.queues.value.split(/[\s,]+/).filter(Boolean);
      const sub = form.sub.value.trim();
      if (!sub) throw new Error('the agent id is required');
      try {
        token = await Api.devToken(api, { sub, role: form.role.value, queues });
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
          throw new Error(`${api} gives no development tokens (a deployed stack?): paste a token instead`);
        }
        throw e;
      }
    } else {
      token = form.token.value.trim().replace(/^Bearer\s+/i, '');
      if (!token) throw new Error('paste a token first');
    }
    let claims;
    try { claims = decodeToken(token); } catch (e) { throw new Error(`that token is not a JWT: ${e.message}`); }
    if (!claims.sub) throw new Error('the token has no subject (sub)');
    // The token works: the caller's queues answer.
    try {
      await new Api(api, token).queues();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw new Error('the API refused the token (401): expired, or for another issuer/audience?');
      throw e;
    }
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({
      api, ws, sub: form.sub.value.trim(), role: form.role.value, queues: form.queues.value,
    }));
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ api, ws, token }));
    startApp(api, ws, token, claims);
  } catch (e) {
    error.textContent = errorText(e);
  }
}

function signOut(message = '') {
  if (S.live) S.live.stop();
  S.live = null;
  S.timers.forEach(clearInterval);
  S.timers = [];
  sessionStorage.removeItem(SESSION_KEY);
  closeConversation();
  showSignIn(message);
}

// ---------------------------------------------------------------------------------------
// The app

function startApp(api, ws, token, claims) {
  S.api = new Api(api, token);
  S.me = { sub: claims.sub, role: claims.role || 'agent', queues: claims.queues || [] };
  S.wsUrl = ws || defaultWsUrl(api);
  S.lists = { waiting: [], mine: [], progress: [], archived: [] };
  S.listsLoaded = false;
  S.tab = 'waiting';
  S.agents = null;
  S.agentsError = null;
  const supervisor = S.me.role === 'supervisor';

  $('#signin').hidden = true;
  $('#app').hidden = false;
  document.title = `conversa · ${S.me.sub}`;
  const who = $('[data-testid=whoami]');
  put(who,
    h('strong', {}, S.me.sub),
    ` · ${S.me.role}`,
    supervisor ? ' · every queue' : ` · ${S.me.queues.length ? S.me.queues.join(', ') : 'no queues'}`,
  );
  who.title = `API ${api}\nWebSocket ${S.wsUrl}`;
  $('[data-tab=progress]').hidden = !supervisor;
  $('#agents-panel').hidden = !supervisor;
  $('#status-note').textContent = '';
  selectTab('waiting');
  renderQueues();

  S.live = new Live(S.wsUrl, token, { onEvent, onState: onLiveState });
  S.live.start();
  refresh({ queues: true, lists: true, agents: true });
  S.timers.push(setInterval(tick, 1000));
  S.timers.push(setInterval(() => {
    if (S.liveState !== 'open') refresh({ queues: true, lists: true, conversation: true, agents: true });
  }, POLL_WHEN_OFFLINE_MS));
  S.timers.push(setInterval(() => refresh({ queues: true, lists: true, agents: true }), SAFETY_REFRESH_MS));
}

// ---------------------------------------------------------------------------------------
// Live events

function onLiveState(state, info) {
  S.liveState = state === 'waiting' ? 'closed' : state;
  const el = $('#live');
  el.dataset.state = S.liveState;
  if (state === 'open') {
    el.textContent = 'Live';
    // Whatever happened while disconnected: read it again.
    if (S.wasOpen) refresh({ queues: true, lists: true, conversation: true, agents: true });
    S.wasOpen = true;
  } else if (state === 'connecting') {
    el.textContent = 'Connecting…';
  } else if (state === 'waiting') {
    el.textContent = `Not live · retry in ${Math.ceil(info.retryInMs / 1000)} s`;
  }
  el.title = liveTitle();
}

function liveTitle() {
  const last = S.lastEvent ? `last event: ${S.lastEvent.type} at ${new Date(S.lastEvent.at).toLocaleTimeString()}` : 'no event yet';
  return `${S.wsUrl}\n${last}${S.liveState === 'open' ? '' : `\nrefreshing every ${POLL_WHEN_OFFLINE_MS / 1000} s meanwhile`}`;
}

function onEvent(event) {
  const type = event['detail-type'] || '';
  const d = event.detail || {};
  S.lastEvent = { type, at: Date.now() };
  $('#live').title = liveTitle();
  $('#live').dataset.events = String(S.live ? S.live.events : 0);

  if (type === 'agent.status') {
    if (S.agents) {
      const a = S.agents.find((x) => x.sub === d.agent);
      if (a) Object.assign(a, { status: d.status, online: d.online });
      renderAgents();
    }
    if (d.agent === S.me.sub) showMyStatus(d);
    refresh({ agents: true });
    return;
  }
  const convId = (d.conversation && d.conversation.id) || d.conversation_id;
  if (type === 'message.received' && d.contact && d.contact_name) S.names.set(d.contact, d.contact_name);
  if (type.startsWith('conversation.') || type.startsWith('message.') || type.startsWith('handoff.') || type.startsWith('campaign.')) {
    const open = convId && convId === S.openId;
    if (type === 'conversation.removed' && open) {
      closeConversation();
      notice('This conversation was removed.', 'info');
    }
    refresh({ queues: !type.startsWith('message.status'), lists: true, conversation: open });
  }
}

// ---------------------------------------------------------------------------------------
// Refetching: coalesced, one run at a time

let pending = {};
let refreshTimer = null;
let running = false;

function refresh(what) {
  pending = wanted(pending, what);
  if (!refreshTimer) refreshTimer = setTimeout(runRefresh, 80);
}

async function runRefresh() {
  refreshTimer = null;
  if (!S.api) return;
  if (running) {
    refreshTimer = setTimeout(runRefresh, 80);
    return;
  }
  running = true;
  const w = pending;
  pending = {};
  try {
    if (w.queues || !S.queueOrder.length) await guard(loadQueues());
    await Promise.all([
      w.lists && guard(loadLists()),
      w.conversation && S.openId && guard(loadConversation()),
      w.agents && loadAgents(),
    ]);
  } finally {
    running = false;
  }
}

async function guard(promise) {
  try {
    return await promise;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      signOut('The API refused your token (401): it may have expired. Sign in again.');
      return undefined;
    }
    notice(errorText(e));
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Queues

async function loadQueues() {
  const { items } = await S.api.queues();
  S.queues = new Map(items.map((q) => [q.id, q]));
  S.queueOrder = items.map((q) => q.id);
  const stats = await Promise.all(items.map((q) => S.api.queueStats(q.id).catch((error) => ({ error }))));
  S.stats = new Map();
  items.forEach((q, i) => {
    const s = stats[i];
    S.stats.set(q.id, s);
    if (s && s.at) {
      s.fetchedAt = Date.now();
      S.offset = s.at - s.fetchedAt;
    }
  });
  renderQueues();
}

function renderQueues() {
  const list = $('#queues');
  if (!S.queueOrder.length) {
    put(list, h('li', { class: 'muted' }, S.api ? 'No queues for you.' : ''));
    return;
  }
  put(list, ...S.queueOrder.map((id) => {
    const q = S.queues.get(id);
    const s = S.stats.get(id) || {};
    const waiting = s.waiting ?? '–';
    const oldestSince = s.oldest_wait_seconds != null ? s.at - s.oldest_wait_seconds * 1000 : null;
    return h('li', {
      class: `queue${S.queueFilter === id ? ' selected' : ''}${s.waiting ? ' has-waiting' : ''}`,
      dataset: { testid: `queue-${id}`, queue: id, waiting: String(s.waiting ?? '') },
      title: S.queueFilter === id ? 'Showing only this queue’s waiting conversations: click to show all' : 'Click to list only this queue’s waiting conversations',
      onclick: () => {
        S.queueFilter = S.queueFilter === id ? null : id;
        selectTab('waiting');
        renderQueues();
      },
    },
    h('div', { class: 'queue-head' },
      h('strong', {}, q.name || id),
      h('span', { class: 'muted small' }, ` ${id} · ${q.assignment === 'first_reply' ? 'first reply captures' : 'manual capture'}`)),
    s.error
      ? h('div', { class: 'error small' }, errorText(s.error))
      : h('div', { class: 'queue-figures' },
        h('span', { class: 'waiting' },
          h('span', { class: 'big', dataset: { testid: `queue-waiting-${id}` } }, String(waiting)), ' waiting'),
        h('span', {}, 'oldest ', oldestSince != null
          ? h('span', { dataset: { since: String(oldestSince), testid: `queue-oldest-${id}` } }, fmtDuration(serverNow() - oldestSince))
          : h('span', { dataset: { testid: `queue-oldest-${id}` } }, '—')),
        h('span', {}, `in progress ${s.in_progress ?? '–'}`),
        h('span', { title: `${s.captured_last_hour ?? 0} captured in the last hour` },
          `avg wait (1 h) ${s.average_wait_seconds_last_hour != null ? fmtDuration(s.average_wait_seconds_last_hour * 1000) : '—'}`)));
  }));
}

// ---------------------------------------------------------------------------------------
// Lists

async function loadLists() {
  const supervisor = S.me.role === 'supervisor';
  const pages = (state) => Promise.all(S.queueOrder.map((q) => S.api.queueConversations(q, state)
    .then((p) => p.items || [])
    .catch((e) => { if (e.status === 401) throw e; return []; })));
  const [waiting, mine, archived, progress] = await Promise.all([
    pages('queued'),
    S.api.mine(false).then((p) => p.items || []),
    S.api.mine(true).then((p) => p.items || []),
    supervisor ? pages('in_progress') : Promise.resolve([]),
  ]);
  const now = Date.now();
  S.lists.waiting = waiting.flat().map((c) => ({ ...c, fetchedAt: now }))
    .sort((a, b) => (a.queued_at || a.opened_at) - (b.queued_at || b.opened_at));
  S.lists.mine = mine;
  S.lists.archived = archived;
  S.lists.progress = progress.flat().sort((a, b) => a.updated_at - b.updated_at);
  S.listsLoaded = true;
  renderLists();
}

function selectTab(tab) {
  S.tab = tab;
  $$('.lists [data-tab]').forEach((b) => {
    b.classList.toggle('selected', b.dataset.tab === tab);
    b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  });
  renderLists();
}

function renderLists() {
  for (const key of ['waiting', 'mine', 'progress']) {
    const n = key === 'waiting' ? filteredWaiting().length : S.lists[key].length;
    const el = $(`.lists [data-count=${key}]`);
    el.textContent = S.listsLoaded ? String(n) : '';
    el.dataset.n = String(n);
  }
  const list = $('#list');
  list.dataset.tab = S.tab;
  const items = S.tab === 'waiting' ? filteredWaiting() : S.lists[S.tab];
  if (!S.listsLoaded) {
    delete list.dataset.sig;
    put(list, h('li', { class: 'muted empty-list' }, 'Loading…'));
    return;
  }
  if (!items.length) {
    const empty = {
      waiting: S.queueFilter ? `Nobody waiting in ${S.queueFilter}.` : 'Nobody waiting in your queues.',
      mine: 'No conversations with you.',
      progress: 'None in progress.',
      archived: 'Nothing archived.',
    }[S.tab];
    delete list.dataset.sig;
    put(list, h('li', { class: 'muted empty-list' }, empty));
    return;
  }
  const key = JSON.stringify([S.tab, S.openId, items.map((c) => [c.id, c.state, c.version, c.unread_count, S.names.get(c.contact)])]);
  if (unchanged(list, key)) return;
  put(list, ...items.map(listItem));
}

function filteredWaiting() {
  return S.queueFilter ? S.lists.waiting.filter((c) => c.queue === S.queueFilter) : S.lists.waiting;
}

function listItem(c) {
  const since = c.state === 'queued' ? (c.queued_at || c.opened_at) : null;
  return h('li', {
    class: `conv-item${c.id === S.openId ? ' selected' : ''}`,
    dataset: { testid: 'conv-item', id: c.id, contact: c.contact, state: c.state },
    tabindex: 0,
    onclick: () => openConversation(c.id),
    onkeydown: (e) => { if (e.key === 'Enter') openConversation(c.id); },
  },
  h('div', { class: 'line1' },
    h('strong', {}, contactLabel(c)),
    c.unread_count && c.agent === S.me.sub && c.id !== S.openId ? h('span', { class: 'unread', title: 'unread messages' }, String(c.unread_count)) : null,
    h('span', { class: `badge state-${c.state}` }, stateLabel(c.state))),
  h('div', { class: 'line2 muted small' },
    c.queue ? `${c.queue}` : 'no queue',
    c.agent && c.agent !== S.me.sub ? ` · ${c.agent}` : '',
    since ? [' · waiting ', h('span', { dataset: { since: String(since) } }, fmtDuration(serverNow() - since))]
      : ` · ${c.state === 'closed' ? `closed ${fmtTime(c.closed_at)}` : `updated ${fmtTime(c.updated_at)}`}`,
    c.archived && S.tab !== 'archived' ? ' · archived' : ''));
}

// ---------------------------------------------------------------------------------------
// Agents

async function loadAgents() {
  S.api.myAgent().then(showMyStatus).catch(() => { /* older API: the list may still say */ });
  try {
    const answer = await S.api.agents();
    S.agents = Array.isArray(answer) ? answer : (answer.items || []);
    S.agentsError = null;
    const me = S.agents.find((a) => a.sub === S.me.sub);
    if (me) showMyStatus(me);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return guard(Promise.reject(e));
    S.agents = null;
    S.agentsError = e;
  }
  renderAgents();
  return undefined;
}

function showMyStatus(agent) {
  if (!agent || !agent.status || document.activeElement === $('#agent-status')) return;
  $('#agent-status').value = agent.status;
  $('#agent-status').dataset.online = String(!!agent.online);
}

function renderAgents() {
  const list = $('#agents');
  if (S.me.role !== 'supervisor') return;
  if (S.agentsError) {
    const why = S.agentsError.status === 404 ? 'This API does not list agents yet.' : errorText(S.agentsError);
    put(list, h('li', { class: 'muted small' }, why));
    return;
  }
  if (!S.agents) return;
  const sorted = [...S.agents].sort((a, b) => Number(!!b.online) - Number(!!a.online) || a.sub.localeCompare(b.sub));
  const online = sorted.filter((a) => a.online).length;
  $('#agents-title').textContent = `Agents · ${online} online`;
  if (!sorted.length) {
    put(list, h('li', { class: 'muted small' }, 'No agents yet.'));
    return;
  }
  put(list, ...sorted.map((a) => h('li', {
    class: `agent ${a.online ? 'online' : 'offline'} status-${a.status || 'offline'}`,
    dataset: { testid: `agent-${a.sub}`, status: a.status || '', online: String(!!a.online) },
  },
  h('span', { class: 'dot', 'aria-hidden': 'true' }),
  h('span', { class: 'agent-name' }, a.name && a.name !== a.sub ? `${a.name} (${a.sub})` : a.sub),
  h('span', { class: 'muted small' },
    `${a.online ? a.status || 'online' : 'offline'} · ${a.active ?? 0} active${a.max_concurrent ? ` of ${a.max_concurrent}` : ''}`,
    a.queues && a.queues.length ? ` · ${a.queues.join(', ')}` : ''))));
}

async function changeMyStatus(event) {
  const status = event.target.value;
  if (!status) return;
  const note = $('#status-note');
  try {
    await S.api.setMyStatus(status);
    note.textContent = '';
    refresh({ agents: true });
  } catch (e) {
    note.textContent = e instanceof ApiError && e.status === 404
      ? 'statuses are not available on this API yet'
      : `status not saved: ${errorText(e)}`;
    event.target.value = '';
  }
}

// ---------------------------------------------------------------------------------------
// A conversation

function openConversation(id) {
  if (S.openId && S.openId !== id) S.drafts.set(S.openId, $('#text').value);
  if (S.openId !== id) {
    S.openId = id;
    S.conv = null;
    S.messages = [];
    S.renderedFor = null;
    $('#transfer').hidden = true;
    $('#empty').hidden = true;
    $('#conv').hidden = false;
    $('#conv').dataset.id = id;
    $('#conv-title').textContent = 'Loading…';
    // Nothing of the conversation shown before stays under the new title while it loads.
    for (const el of [$('#conv-meta'), $('#window'), $('#messages'), $('#actions')]) {
      delete el.dataset.sig;
      put(el);
    }
  }
  renderLists();
  refresh({ conversation: true });
}

function closeConversation() {
  S.openId = null;
  S.conv = null;
  S.renderedFor = null;
  $('#conv').hidden = true;
  $('#empty').hidden = false;
  if (S.api) renderLists();
}

async function loadConversation() {
  const id = S.openId;
  let conv;
  let messages;
  try {
    [conv, messages] = await Promise.all([S.api.conversation(id), S.api.messages(id)]);
  } catch (e) {
    if (S.openId !== id) return;
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) {
      closeConversation();
      notice(e.status === 404 ? 'That conversation is gone (removed).' : `You may no longer see that conversation: ${e.message}`, 'info');
      refresh({ lists: true });
      return;
    }
    throw e;
  }
  if (S.openId !== id) return;
  const names = conv.contact_names || {};
  const name = names.display_name || names.profile_name;
  if (name) S.names.set(conv.contact, name);
  S.conv = conv;
  S.messages = messages;
  if (!S.templates.has(conv.channel)) {
    try {
      const t = await S.api.templates(conv.channel);
      S.templates.set(conv.channel, t.items || []);
    } catch {
      S.templates.set(conv.channel, []);
    }
  }
  if (S.openId !== id) return;
  renderConversation();
  if (conv.agent === S.me.sub && conv.unread_count > 0 && conv.state !== 'closed') {
    S.api.act(id, 'read').catch(() => { /* best effort */ });
  }
}

function currentRules() {
  return rules(S.conv, S.me, { now: serverNow(), queues: S.queues, fmtTime });
}

function renderConversation() {
  const c = S.conv;
  if (!c) return;
  const fresh = S.renderedFor !== c.id;
  const names = c.contact_names || {};
  const title = names.display_name || names.profile_name;
  $('#conv').dataset.state = c.state;
  put($('#conv-title'),
    title ? h('span', {}, title, ' ') : null,
    h('span', { class: title ? 'muted phone' : 'phone' }, fmtPhone(c.contact)),
  );
  const queue = c.queue ? S.queues.get(c.queue) : null;
  put($('#conv-meta'),
    h('span', { class: `badge state-${c.state}`, dataset: { testid: 'conv-state' } }, stateLabel(c.state)),
    c.archived ? h('span', { class: 'badge archived' }, 'archived') : null,
    h('span', {}, c.queue ? `queue ${queue ? queue.name || c.queue : c.queue}` : 'no queue'),
    h('span', { dataset: { testid: 'conv-agent' } }, c.agent ? `agent ${c.agent === S.me.sub ? `${c.agent} (you)` : c.agent}` : 'no agent'),
    h('span', {}, `${c.origin === 'customer' ? 'the contact wrote' : `started by ${c.origin}`} ${fmtTime(c.opened_at)}`),
    c.state === 'closed' ? h('span', {}, `closed ${fmtTime(c.closed_at)} (${(c.close_reason || '').replace(/_/g, ' ')})`) : null,
  );
  renderWindow();
  renderActions();
  renderMessages(fresh);
  renderComposer(fresh);
  S.renderedFor = c.id;
}

function renderWindow() {
  const c = S.conv;
  const w = c.window || {};
  const open = windowOpen(c, serverNow());
  const el = $('#window');
  el.dataset.open = String(open);
  S.windowWasOpen = open;
  if (open) {
    el.replaceChildren(
      h('strong', {}, 'Window open'),
      ` until ${fmtTime(w.closes_at)} (`,
      h('span', { dataset: { until: String(w.closes_at) } }, fmtDuration(w.closes_at - serverNow())),
      ' left): free-form replies allowed',
    );
  } else {
    el.replaceChildren(
      h('strong', {}, 'Window closed'),
      w.last_inbound_at ? ` since ${fmtTime(w.closes_at || w.last_inbound_at + 86400000)}` : ' (the contact has not written)',
      ': templates only',
    );
  }
}

const ACTIONS = [
  { key: 'capture', label: 'Capture', testid: 'action-capture', only: (c) => c.state === 'queued' || !c.agent },
  { key: 'transfer', label: 'Transfer…', testid: 'action-transfer' },
  { key: 'hold', label: 'Hold', testid: 'action-hold', unless: (c) => c.state === 'on_hold' },
  { key: 'resume', label: 'Resume', testid: 'action-resume', only: (c) => c.state === 'on_hold' },
  { key: 'close', label: 'Close', testid: 'action-close' },
  { key: 'archive', label: 'Archive', testid: 'action-archive', unless: (c) => c.archived },
  { key: 'unarchive', label: 'Unarchive', testid: 'action-unarchive', only: (c) => c.archived },
];

function renderActions() {
  const c = S.conv;
  const r = currentRules();
  const buttons = [];
  const reasons = [];
  for (const a of ACTIONS) {
    if (a.only && !a.only(c)) continue;
    if (a.unless && a.unless(c)) continue;
    const rule = r[a.key];
    const id = `reason-${a.key}`;
    buttons.push(h('button', {
      type: 'button',
      class: a.key === 'capture' && rule.allowed ? 'primary' : '',
      dataset: { testid: a.testid, action: a.key },
      disabled: !rule.allowed,
      title: rule.allowed ? '' : rule.reason,
      'aria-describedby': rule.allowed ? null : id,
      onclick: (e) => doAction(a.key, e.currentTarget),
    }, a.label));
    if (!rule.allowed) {
      reasons.push(h('li', { id, dataset: { testid: id } }, h('strong', {}, a.label.replace('…', '')), ': ', rule.reason));
    }
  }
  if (unchanged($('#actions'), JSON.stringify([c.id, buttons.map((b) => [b.dataset.action, b.disabled, b.title]), reasons.map((r) => r.textContent)]))) return;
  put($('#actions'),
    h('div', { class: 'buttons' }, buttons),
    reasons.length ? h('ul', { class: 'reasons', dataset: { testid: 'action-reasons' } }, reasons) : null,
  );
}

async function doAction(key, button) {
  const c = S.conv;
  if (!c) return;
  if (key === 'transfer') {
    openTransfer();
    return;
  }
  if (key === 'close' && button.dataset.armed !== 'true') {
    // Two clicks: closing ends the service.
    button.dataset.armed = 'true';
    button.textContent = 'Click again to close';
    button.classList.add('danger');
    setTimeout(() => {
      if (button.isConnected) {
        button.dataset.armed = 'false';
        button.textContent = 'Close';
        button.classList.remove('danger');
      }
    }, 5000);
    return;
  }
  button.disabled = true;
  try {
    const updated = await S.api.act(c.id, key);
    if (S.openId === c.id && updated && updated.id === c.id) {
      S.conv = { ...S.conv, ...updated };
      renderConversation();
    }
    notice(`${key === 'capture' ? 'Captured' : `${key[0].toUpperCase()}${key.slice(1)}d`}.`, 'info', 2500);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'already_captured' && e.details && e.details.agent) {
      notice(`${e.details.agent} captured it first.`);
    } else {
      notice(errorText(e));
    }
  }
  refresh({ queues: true, lists: true, conversation: true });
}

function openTransfer() {
  const form = $('#transfer');
  form.hidden = false;
  fillTransferTargets();
  form.target.value = '';
  form.target.focus();
}

function fillTransferTargets() {
  const form = $('#transfer');
  const kind = form.kind.value;
  form.target.placeholder = kind === 'queue' ? 'queue id, e.g. sales' : 'agent id';
  const options = kind === 'queue'
    ? S.queueOrder.filter((q) => q !== (S.conv && S.conv.queue)).map((q) => [q, S.queues.get(q).name])
    : (S.agents || []).filter((a) => a.sub !== S.me.sub).map((a) => [a.sub, `${a.name || a.sub} · ${a.online ? a.status : 'offline'}`]);
  put($('#transfer-targets'), ...options.map(([value, label]) => h('option', { value }, label)));
}

async function submitTransfer(event) {
  event.preventDefault();
  const form = event.target;
  const target = form.target.value.trim();
  if (!target || !S.conv) return;
  const body = { [form.kind.value]: target };
  try {
    const updated = await S.api.act(S.conv.id, 'transfer', body);
    form.hidden = true;
    notice(`Transferred to ${form.kind.value} ${target}.`, 'info', 3000);
    if (S.me.role !== 'supervisor' && !(form.kind.value === 'agent' && target === S.me.sub)) {
      // No longer ours: an agent sees it again only if it waits in one of its queues.
      closeConversation();
    } else {
      if (updated && updated.id === S.openId) S.conv = { ...S.conv, ...updated };
      renderConversation();
    }
  } catch (e) {
    notice(errorText(e));
  }
  refresh({ queues: true, lists: true, conversation: true });
}

// ---------------------------------------------------------------------------------------
// Messages

function templateOf(channel, name, language) {
  return (S.templates.get(channel) || []).find((t) => t.name === name && t.language === language);
}

function placeholders(text) {
  const found = new Set();
  for (const m of String(text || '').matchAll(/\{\{(\d+)\}\}/g)) found.add(Number(m[1]));
  return found.size ? Math.max(...found) : 0;
}

function component(t, type) {
  return (t.components || []).find((c) => String(c.type).toUpperCase() === type);
}

/** A sent template's text, from the channel's template and the parameters given. */
function templateText(m, channel) {
  const t = templateOf(channel, m.name, m.language);
  const params = m.parameters || [];
  if (!t) return `${m.name} (${m.language})${params.length ? `: ${params.join(', ')}` : ''}`;
  const header = component(t, 'HEADER');
  const body = component(t, 'BODY');
  const footer = component(t, 'FOOTER');
  const nh = header && header.text ? placeholders(header.text) : 0;
  const fill = (text, values) => String(text).replace(/\{\{(\d+)\}\}/g, (all, n) => values[Number(n) - 1] ?? all);
  return [
    header && header.text ? fill(header.text, params.slice(0, nh)) : null,
    body ? fill(body.text, params.slice(nh)) : null,
    footer ? footer.text : null,
  ].filter(Boolean).join('\n');
}

function messageText(m, channel) {
  switch (m.type) {
    case 'text': return m.body ?? '';
    case 'template': return templateText(m, channel);
    case 'image': case 'video': case 'audio': case 'document': case 'sticker':
      return `[${m.type}${m.filename ? `: ${m.filename}` : ''}]${m.caption ? ` ${m.caption}` : ''}${m.link ? ` ${m.link}` : ''}`;
    case 'location':
      return `[location] ${[m.name, m.address].filter(Boolean).join(', ')} (${m.latitude}, ${m.longitude})`;
    case 'contacts':
      return `[contact card] ${(m.contacts || []).map((x) => (x.name && x.name.formatted_name) || '').filter(Boolean).join(', ')}`;
    case 'interactive': return `${m.title || m.reply_id || ''}${m.description ? ` — ${m.description}` : ''}`;
    case 'button': return m.text || m.payload || '';
    case 'reaction': return `reacted ${m.emoji || '(removed)'}`;
    case 'unsupported': return `[a message WhatsApp does not support: ${m.original_type || 'unknown'}]`;
    default: return m.body || `[${m.type}]`;
  }
}

const STATUS = {
  accepted: ['…', 'accepted, on its way to WhatsApp'],
  sent: ['✓', 'sent'],
  delivered: ['✓✓', 'delivered'],
  read: ['✓✓', 'read'],
  failed: ['✗', 'failed'],
};

function renderMessages(fresh) {
  const list = $('#messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const channel = S.conv.channel;
  const key = JSON.stringify([S.conv.id, S.messages.map((m) => [m.id, m.status, m.at])]);
  if (unchanged(list, key)) {
    if (fresh) list.scrollTop = list.scrollHeight;
    return;
  }
  if (!S.messages.length) {
    put(list, h('li', { class: 'muted empty-list' }, 'No messages.'));
    return;
  }
  put(list, ...S.messages.map((m) => {
    const [glyph, words] = STATUS[m.status] || ['', ''];
    const failure = m.status === 'failed' ? `${m.failure || 'failed'}${m.error_code ? ` (${m.error_code})` : ''}` : '';
    return h('li', {
      class: `msg ${m.direction} type-${m.type}`,
      dataset: { testid: 'message', id: m.id, direction: m.direction, status: m.status || '' },
    },
    m.type === 'template' ? h('div', { class: 'tag' }, `template ${m.name}`) : null,
    h('div', { class: 'body' }, messageText(m, channel)),
    h('div', { class: 'foot' },
      m.direction === 'outbound' && m.sender ? `${m.sender} · ` : '',
      fmtTime(m.at),
      m.direction === 'outbound' && m.status
        ? h('span', { class: `status status-${m.status}`, title: m.outcome_unknown_since ? 'sent, outcome unknown: waiting for a status' : words }, ` ${glyph}`)
        : null),
    failure ? h('div', { class: 'failure' }, failure) : null);
  }));
  if (fresh || nearBottom) list.scrollTop = list.scrollHeight;
}

// ---------------------------------------------------------------------------------------
// Composer: free-form text, or a template with its preview

function setComposerMode(mode) {
  $$('.composer [data-mode]').forEach((b) => {
    b.classList.toggle('selected', b.dataset.mode === mode);
    b.setAttribute('aria-selected', String(b.dataset.mode === mode));
  });
  $('#compose-text').hidden = mode !== 'text';
  $('#compose-template').hidden = mode !== 'template';
}

function renderComposer(fresh) {
  const c = S.conv;
  const r = currentRules();
  if (fresh) {
    $('#text').value = S.drafts.get(c.id) || '';
    S.template = null;
    S.preview = null;
    const select = $('#template');
    put(select, h('option', { value: '' }, 'Choose a template…'),
      ...(S.templates.get(c.channel) || []).map((t) => h('option', { value: `${t.name}|${t.language}` },
        `${t.name} (${t.language}, ${String(t.category || '').toLowerCase()})`)));
    put($('#template-params'));
    $('#template-preview').hidden = true;
    // Where free-form is closed but templates are not, open on the template tab.
    setComposerMode(!r.text.allowed && r.template.allowed ? 'template' : 'text');
  }
  const text = $('#text');
  const send = $('#send-text');
  const reason = $('#text-reason');
  text.disabled = !r.text.allowed;
  send.disabled = !r.text.allowed;
  text.title = r.text.allowed ? '' : r.text.reason;
  send.title = text.title;
  reason.textContent = r.text.allowed ? r.text.hint || '' : r.text.reason;
  reason.dataset.state = r.text.allowed ? 'ok' : 'disabled';
  text.placeholder = r.text.allowed ? 'Write a reply… (Ctrl+Enter sends)' : 'Free-form replies are not available now (see below)';
  renderTemplateState();
}

function renderTemplateState() {
  const r = currentRules();
  const reason = $('#template-reason');
  const send = $('#send-template');
  const select = $('#template');
  select.disabled = !r.template.allowed;
  $$('#template-params input').forEach((i) => { i.disabled = !r.template.allowed; });
  let why = '';
  if (!r.template.allowed) why = r.template.reason;
  else if (!S.template) why = (S.templates.get(S.conv.channel) || []).length ? 'Choose a template.' : 'This channel has no approved templates.';
  else if (!S.preview) why = 'Rendering the preview…';
  else if (!S.preview.complete) {
    why = `Fill in ${S.preview.missing.map((m) => `${m.component} {{${m.placeholder}}}`).join(', ')}.`;
  }
  send.disabled = !!why;
  send.title = why;
  reason.textContent = why;
  reason.dataset.state = r.template.allowed ? 'ok' : 'disabled';
}

function pickTemplate() {
  const value = $('#template').value;
  S.preview = null;
  const box = $('#template-params');
  if (!value) {
    S.template = null;
    put(box);
    $('#template-preview').hidden = true;
    renderTemplateState();
    return;
  }
  const [name, language] = value.split('|');
  const t = templateOf(S.conv.channel, name, language);
  S.template = t;
  const header = component(t, 'HEADER');
  const body = component(t, 'BODY');
  const nh = header && header.text ? placeholders(header.text) : 0;
  const nb = body ? placeholders(body.text) : 0;
  const fields = [];
  for (let i = 1; i <= nh + nb; i++) {
    const label = i <= nh ? `Header {{${i}}}` : `Body {{${i - nh}}}`;
    fields.push(h('label', {}, label, h('input', {
      dataset: { testid: `template-param-${i}` },
      maxlength: 1024,
      oninput: schedulePreview,
    })));
  }
  put(box, ...fields);
  if (!fields.length) box.append(h('span', { class: 'muted small' }, 'No parameters.'));
  updatePreview();
}

let previewTimer = null;
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(updatePreview, 250);
}

function templateParameters() {
  return $$('#template-params input').map((i) => i.value);
}

async function updatePreview() {
  const t = S.template;
  if (!t || !S.conv) return;
  const parameters = templateParameters();
  try {
    const p = await S.api.preview(S.conv.channel, t.name, t.language, parameters);
    if (S.template !== t) return;
    S.preview = p;
    const box = $('#template-preview');
    box.hidden = false;
    put(box,
      p.header ? h('div', { class: 'p-header' }, p.header) : null,
      h('div', { class: 'p-body' }, p.body),
      p.footer ? h('div', { class: 'p-footer' }, p.footer) : null,
      p.buttons && p.buttons.length ? h('div', { class: 'p-buttons' }, p.buttons.map((b) => h('span', { class: 'chip' }, b))) : null,
    );
    box.dataset.complete = String(p.complete);
  } catch (e) {
    S.preview = null;
    notice(errorText(e));
  }
  renderTemplateState();
}

async function sendText(event) {
  event.preventDefault();
  const c = S.conv;
  const text = $('#text').value;
  if (!c || !text.trim() || $('#send-text').disabled) return;
  $('#send-text').disabled = true;
  try {
    const { message } = await S.api.send(c.id, { text });
    $('#text').value = '';
    S.drafts.delete(c.id);
    if (S.openId === c.id && message) {
      S.messages = [...S.messages.filter((m) => m.id !== message.id), message];
      renderMessages(true);
    }
  } catch (e) {
    notice(errorText(e));
  }
  refresh({ conversation: true, lists: true, queues: true });
}

async function sendTemplate(event) {
  event.preventDefault();
  const c = S.conv;
  const t = S.template;
  if (!c || !t || $('#send-template').disabled) return;
  $('#send-template').disabled = true;
  try {
    const { message } = await S.api.send(c.id, {
      template: { name: t.name, language: t.language, parameters: templateParameters() },
    });
    $('#template').value = '';
    pickTemplate();
    if (S.openId === c.id && message) {
      S.messages = [...S.messages.filter((m) => m.id !== message.id), message];
      renderMessages(true);
    }
  } catch (e) {
    notice(errorText(e));
    renderTemplateState();
  }
  refresh({ conversation: true, lists: true, queues: true });
}

// ---------------------------------------------------------------------------------------
// Every second: wait times and the window's countdown move on

function tick() {
  const now = serverNow();
  for (const el of $$('[data-since]')) el.textContent = fmtDuration(now - Number(el.dataset.since));
  for (const el of $$('[data-until]')) el.textContent = fmtDuration(Number(el.dataset.until) - now);
  if (S.conv && S.windowWasOpen && !windowOpen(S.conv, now)) renderConversation();
}

// ---------------------------------------------------------------------------------------
// Wiring

function wire() {
  $('#signin-form').addEventListener('submit', signIn);
  $('#signout').addEventListener('click', () => signOut(''));
  $('#agent-status').addEventListener('change', changeMyStatus);
  $$('.lists [data-tab]').forEach((b) => b.addEventListener('click', () => selectTab(b.dataset.tab)));
  $$('.composer [data-mode]').forEach((b) => b.addEventListener('click', () => setComposerMode(b.dataset.mode)));
  $('#compose-text').addEventListener('submit', sendText);
  $('#text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('#compose-text').requestSubmit();
  });
  $('#text').addEventListener('input', () => { if (S.openId) S.drafts.set(S.openId, $('#text').value); });
  $('#compose-template').addEventListener('submit', sendTemplate);
  $('#template').addEventListener('change', pickTemplate);
  $('#transfer').addEventListener('submit', submitTransfer);
  $('#transfer').addEventListener('change', (e) => { if (e.target.name === 'kind') fillTransferTargets(); });
  $('#transfer-cancel').addEventListener('click', () => { $('#transfer').hidden = true; });
  window.addEventListener('online', () => S.live && S.live.now());
}

async function main() {
  wire();
  let session = null;
  try { session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null'); } catch { /* none */ }
  if (session && session.token) {
    try {
      const claims = decodeToken(session.token);
      if (!claims.exp || claims.exp * 1000 > Date.now()) {
        startApp(session.api, session.ws, session.token, claims);
        return;
      }
    } catch { /* sign in again */ }
  }
  await showSignIn('');
}

main();
