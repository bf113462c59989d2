// A websocket that says hello, reconnects with backoff, and keeps itself alive.
//
// The caller supplies `hello()` (the first frame, built fresh on every
// connect so it can carry the latest after_seq) and `onFrame(frame)`.
// A close with 4401 (bad token) or 4403 (origin) is final: reconnecting
// would fail the same way, so `onFatal` is called instead.

const FATAL = new Set([4401, 4403]);

export class LiveSocket {
  constructor(path, { hello, onFrame, onState = () => {}, onFatal = () => {} }) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.url = `${scheme}://${location.host}${path}`;
    this.hello = hello;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onFatal = onFatal;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.ready = false; // welcome received on the current socket
    this.lastHeard = 0;
    this.sent = []; // every frame sent, for tests and debugging (bounded)
    this._keepalive = null;
    this._online = () => this.reconnectNow();
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this._online);
    this._keepalive = setInterval(() => this._tick(), 10_000);
    this._connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this._online);
    clearInterval(this._keepalive);
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "bye");
    }
    this._setState("offline");
  }

  /** Send a frame now; returns false when not connected (caller keeps it). */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.ready) return false;
    this.ws.send(JSON.stringify(frame));
    this.sent.push(frame);
    if (this.sent.length > 200) this.sent.shift();
    return true;
  }

  /** Drop the current socket (if any) and connect again without waiting. */
  reconnectNow() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.ws.close(4000, "reconnect");
    } else {
      this._connect();
    }
  }

  _setState(state, detail) {
    this.state = state;
    this.onState(state, detail);
  }

  _connect() {
    if (this.stopped) return;
    this.ready = false;
    this._setState(this.attempt ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastHeard = Date.now();
      const hello = this.hello();
      ws.send(JSON.stringify(hello));
      this.sent.push({ ...hello, token: "…" });
    };
    ws.onmessage = (event) => {
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "welcome") {
        this.ready = true;
        this.attempt = 0;
        this._setState("online");
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return; // a socket we already replaced
      this.ws = null;
      this.ready = false;
      if (this.stopped) return;
      if (FATAL.has(event.code)) {
        this.stopped = true;
        clearInterval(this._keepalive);
        this._setState("offline");
        this.onFatal(event.code, event.reason);
        return;
      }
      this._retry();
    };
  }

  _retry() {
    // 0.5 s, 1 s, 2 s ... up to 15 s, with jitter so a restarted server is
    // not hit by every client in the same millisecond.
    const base = Math.min(15_000, 500 * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this._setState("reconnecting", { delay });
    this.timer = setTimeout(() => this._connect(), delay);
  }

  _tick() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const silent = Date.now() - this.lastHeard;
    if (silent > 45_000) {
      this.ws.close(4000, "no answer"); // half-open socket: start over
    } else if (silent > 20_000 && this.ready) {
      this.ws.send(JSON.stringify({ type: "ping" }));
    }
  }
}
