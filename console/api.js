// The conversa HTTP API (docs/openapi.yaml) as the console uses it. Errors are the API's
// `{"code", "message", "details"?}`, thrown as ApiError; a network failure is code
// `network`.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function trimBase(url) {
  return String(url || '').trim().replace(/\/+$/, '');
}

/** The WebSocket URL the local stack serves beside its API: ws(s)://host/ws. */
export function defaultWsUrl(apiBase) {
  const u = new URL(trimBase(apiBase) + '/ws');
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/** The claims of a JWT (no signature check: the API checks it). */
export function decodeToken(token) {
  const part = String(token).split('.')[1];
  if (!part) throw new Error('not a JWT (expected three dot-separated parts)');
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

export class Api {
  constructor(base, token) {
    this.base = trimBase(base);
    this.token = token;
  }

  async request(method, path, body, headers = {}) {
    const init = { method, headers: { ...headers }, cache: 'no-store' };
    if (this.token) init.headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(this.base + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach ${this.base} (${e.message}); is the API up, and does it allow this page's origin (CORS)?`);
    }
    const text = await response.text();
    let json = null;
    if (text) {
      try { json = JSON.parse(text); } catch { /* not JSON */ }
    }
    if (!response.ok) {
      const code = (json && json.code) || `http_${response.status}`;
      const message = (json && json.message) || text || response.statusText;
      throw new ApiError(response.status, code, message, json && json.details);
    }
    return json;
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body); }

  static async devToken(base, claims) {
    const api = new Api(base, null);
    const answer = await api.post('/_dev/token', claims);
    return answer.token;
  }

  queues() { return this.get('/v1/queues'); }
  queueStats(q) { return this.get(`/v1/queues/${encodeURIComponent(q)}/stats`); }
  queueConversations(q, state = 'queued') {
    return this.get(`/v1/queues/${encodeURIComponent(q)}/conversations?state=${state}&limit=100`);
  }
  mine(archived = false) {
    return this.get(`/v1/conversations?assigned=me${archived ? '&archived=true' : ''}&limit=100`);
  }
  conversation(id) { return this.get(`/v1/conversations/${encodeURIComponent(id)}`); }

  /** Every message, following next_cursor (at most `pages` pages of 100). */
  async messages(id, pages = 10) {
    const all = [];
    let cursor = null;
    for (let i = 0; i < pages; i++) {
      const q = `?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await this.get(`/v1/conversations/${encodeURIComponent(id)}/messages${q}`);
      all.push(...(page.items || []));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return all;
  }

  send(id, body) {
    return this.request('POST', `/v1/conversations/${encodeURIComponent(id)}/messages`, body, {
      'Idempotency-Key': newKey(),
    });
  }
  act(id, operation, body) {
    return this.post(`/v1/conversations/${encodeURIComponent(id)}/${operation}`, body);
  }
  templates(channel) { return this.get(`/v1/channels/${encodeURIComponent(channel)}/templates`); }
  preview(channel, name, language, parameters) {
    return this.post(`/v1/channels/${encodeURIComponent(channel)}/templates/${encodeURIComponent(name)}/preview`, {
      language,
      parameters,
    });
  }
  agents() { return this.get('/v1/agents'); }
  myAgent() { return this.get('/v1/agents/me'); }
  setMyStatus(status) { return this.request('PUT', '/v1/agents/me/status', { status }); }
}
