// Live updates: one WebSocket to the stack (`ws(s)://…/ws?token=<jwt>`). The server sends
// one text frame per event, the EventBridge envelope
// `{"id", "detail-type", "source", "time", "detail"}`, for the conversations the caller
// may see. The client sends nothing but a ping now and then to keep an idle connection
// alive, and reconnects with backoff (1 s, 2 s, 4 s … 30 s, with jitter) when it closes.

const PING_EVERY_MS = 4 * 60 * 1000;
const MAX_BACKOFF_MS = 30 * 1000;

export class Live {
  /**
   * @param {string} url the WebSocket URL, without the token
   * @param {string} token the JWT, sent as `?token=`
   * @param {{onEvent: (e: object) => void, onState: (state: string, info: object) => void}} handlers
   */
  constructor(url, token, { onEvent, onState }) {
    this.url = url;
    this.token = token;
    this.onEvent = onEvent;
    this.onState = onState;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.ping = null;
    this.stopped = false;
    this.events = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
      this.socket = null;
    }
  }

  connect() {
    clearTimeout(this.timer);
    const url = new URL(this.url);
    url.searchParams.set('token', this.token);
    this.onState('connecting', { attempt: this.attempt });
    let socket;
    try {
      socket = new WebSocket(url.toString());
    } catch (e) {
      this.onState('closed', { error: e.message });
      this.retry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.onState('open', {});
      clearInterval(this.ping);
      this.ping = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: 'ping' }));
      }, PING_EVERY_MS);
    };
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return; // not an event
      }
      if (!event || typeof event !== 'object') return;
      this.events += 1;
      this.onEvent(event);
    };
    socket.onclose = (close) => {
      clearInterval(this.ping);
      if (this.socket === socket) this.socket = null;
      if (this.stopped) return;
      this.onState('closed', { code: close.code, reason: close.reason });
      this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt += 1;
    this.onState('waiting', { retryInMs: delay, attempt: this.attempt });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Reconnect now (e.g. the network came back). */
  now() {
    if (this.stopped || (this.socket && this.socket.readyState <= WebSocket.OPEN)) return;
    this.attempt = 0;
    this.connect();
  }
}
