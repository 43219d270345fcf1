// Fakes for driving the client: a socket that records frames, memory storage, a manual clock.

import { Client, Env, SocketLike } from '../src/client';

export class FakeSocket implements SocketLike {
  sent: string[] = [];
  closed = false;
  onopen: ((ev?: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev?: unknown) => void) | null = null;
  onerror: ((ev?: unknown) => void) | null = null;
  send(data: string): void {
    if (/[\r\n]/.test(data)) throw new Error('frame contains CR/LF: ' + JSON.stringify(data));
    this.sent.push(data);
  }
  close(): void {
    this.closed = true;
  }
  /** Server → client. */
  recv(...lines: string[]): void {
    for (const l of lines) this.onmessage?.({ data: l });
  }
  /** Frames sent since the last call. */
  take(): string[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
  drop(): void {
    this.onclose?.({});
  }
}

export class MemStorage {
  m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.has(k) ? this.m.get(k)! : null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
}

export class Harness {
  sockets: FakeSocket[] = [];
  storage = new MemStorage();
  time = Date.parse('2026-01-10T12:00:00.000Z');
  timers: { at: number; fn: () => void; id: number }[] = [];
  seq = 0;
  client: Client;
  constructor(storage?: MemStorage) {
    if (storage) this.storage = storage;
    const env: Env = {
      connect: () => {
        const s = new FakeSocket();
        this.sockets.push(s);
        return s;
      },
      storage: this.storage,
      now: () => this.time,
      random: () => 0.5,
      setTimeout: (fn, ms) => {
        const id = ++this.seq;
        this.timers.push({ at: this.time + ms, fn, id });
        return id;
      },
      clearTimeout: (h) => {
        this.timers = this.timers.filter((t) => t.id !== h);
      },
    };
    this.client = new Client(env);
  }
  get sock(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }
  /** Advance the clock, running timers that come due. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const t = this.timers[0];
      if (!t || t.at > end) break;
      this.timers.shift();
      this.time = t.at;
      t.fn();
    }
    this.time = end;
  }
  /** Open the socket and take the registration lines. */
  open(): string[] {
    this.sock.onopen?.();
    return this.sock.take();
  }
}

export const ALL_CAPS =
  'message-tags server-time echo-message batch labeled-response draft/chathistory draft/read-marker ' +
  'draft/message-redaction draft/multiline=max-bytes=4096,max-lines=32 sasl=PLAIN,SCRAM-SHA-256 ' +
  'draft/account-registration=before-connect multi-prefix away-notify account-notify extended-join setname ' +
  'invite-notify chghost standard-replies';

/** Register `nick` through CAP negotiation (no SASL); returns the frames sent after the MOTD. */
export function register(h: Harness, nick: string, opts: { sasl?: boolean } = {}): string[] {
  h.open();
  h.sock.recv(':srv CAP * LS :' + ALL_CAPS);
  const req = h.sock.take();
  const caps = req[0].replace(/^CAP REQ :?/, '');
  h.sock.recv(':srv CAP * ACK :' + caps);
  if (opts.sasl) return h.sock.take();
  h.sock.take();
  welcome(h, nick);
  return h.sock.take();
}

export function welcome(h: Harness, nick: string): void {
  h.sock.recv(
    `:srv 001 ${nick} :Welcome to the teahouse IRC network, ${nick}`,
    `:srv 005 ${nick} CHATHISTORY=100 PREFIX=(ov)@+ CHANTYPES=# NICKLEN=32 NETWORK=teahouse CHANMODES=b,k,l,imnst :are supported by this server`,
    `:srv 422 ${nick} :MOTD File is missing`,
  );
}

/** Get a harness registered as nick and joined to #lobby (history answered empty). */
export function joined(nick = 'alice', others: string[] = ['bob'], history = 0): Harness {
  const h = new Harness();
  h.client.login(nick, null, false);
  register(h, nick);
  h.sock.recv(
    `:${nick}!~${nick}@127.0.0.1 JOIN #lobby * :teahouse web`,
    `:srv 353 ${nick} = #lobby :@${nick} ${others.join(' ')}`,
    `:srv 366 ${nick} #lobby :End of /NAMES list.`,
  );
  const frames = h.sock.take();
  const hist = frames.find((f) => f.includes('CHATHISTORY LATEST #lobby'));
  if (hist) {
    const label = /label=([^ ;]+)/.exec(hist)?.[1];
    const lines = [];
    for (let i = 0; i < history; i++) {
      const t = new Date(Date.parse('2026-01-10T10:00:00.000Z') + i * 1000).toISOString();
      lines.push(`@batch=h1;msgid=old${i};time=${t} :bob!~bob@h PRIVMSG #lobby :old ${i}`);
    }
    h.sock.recv(`@label=${label} :srv BATCH +h1 chathistory #lobby`, ...lines, `:srv BATCH -h1`);
  }
  h.sock.take();
  return h;
}

export function lastLabel(frames: string[], match: string): string {
  const f = frames.find((x) => x.includes(match));
  if (!f) throw new Error(`no frame with ${match} in ${JSON.stringify(frames)}`);
  const m = /label=([^ ;]+)/.exec(f);
  if (!m) throw new Error(`no label in ${f}`);
  return m[1];
}
