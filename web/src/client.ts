// The connection state machine: registration, capabilities, SASL, batches, labels, history,
// read markers, reconnection. The socket, storage, clock and timers are injected, so tests drive
// it with fakes. The UI only reads `state` and calls the methods.

import {
  Message, Tags, parse, serialize, parseSource, casefold, isChannel, parseCtcp, ctcp, splitByBytes,
  utf8Length, parseCaps, parseCapValue, base64Utf8,
} from './irc';
import {
  AppBuffer, Buffers, ChatMessage, Member, SERVER_KEY, addMember, addMessage, addMessages, bufferKey,
  changePrefix, failPending, hasMember, newBuffer, newestMsgid, newestTime, oldestMsgid, react, removeMember,
  removeMessage, renameMember, setMarker, setMembers, setTyping, updateMember, withBuffer, withoutBuffer,
  bufferOrder, unreadCount, mentionCount,
} from './store';
import { mentions } from './render';

export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev?: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev?: unknown) => void) | null;
  onerror: ((ev?: unknown) => void) | null;
}

export interface StorageLike {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}

export interface Env {
  connect(): SocketLike;
  storage: StorageLike;
  now(): number;
  random(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

export type ConnStatus = 'picker' | 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'disconnected';

export interface Notice {
  key: string;
  args?: Record<string, string>;
}

export interface ConnState {
  status: ConnStatus;
  /** When the next reconnection attempt happens (status 'reconnecting'). */
  retryAt?: number;
  /** For the nickname picker: why we are back there. */
  pickerError?: Notice;
  /** The nick is registered: the picker asks for its password. */
  needPassword?: boolean;
  /** Text of the last ERROR line from the server. */
  serverError?: string;
}

export interface RoomInfo {
  name: string;
  users: number;
  topic: string;
}

export interface AppState {
  conn: ConnState;
  /** Our nick (the one the server gave us once registered). */
  nick: string;
  account?: string;
  buffers: Buffers;
  active: string;
  rooms?: { loading: boolean; list: RoomInfo[] };
  register?: { ok: boolean; text: string };
  caps: string[];
  isupport: Record<string, string>;
  network: string;
}

/** Capabilities we use. */
export const WANTED_CAPS = [
  'message-tags', 'server-time', 'echo-message', 'batch', 'labeled-response', 'draft/chathistory',
  'draft/read-marker', 'draft/message-redaction', 'draft/multiline', 'sasl', 'draft/account-registration',
  'multi-prefix', 'away-notify', 'account-notify', 'extended-join', 'setname', 'invite-notify', 'chghost',
  'standard-replies', 'cap-notify',
];

export const HISTORY_PAGE = 50;
export const AFTER_PAGE = 100;
export const TYPING_SEND_EVERY = 3000;
export const TYPING_EXPIRE = 6000;
export const MAX_BACKOFF = 30000;
export const DEFAULT_ROOM = '#lobby';
export const MARK_EVERY = 2000;
/** After registering under a variant of our nick (the old one was still there), try to get it back. */
export const RECLAIM_AFTER = [5000, 20000, 60000];

const K = {
  nick: 'teahouse.nick',
  password: 'teahouse.password',
  rooms: 'teahouse.rooms',
  queries: 'teahouse.queries',
  active: 'teahouse.active',
  read: 'teahouse.read.',
};

interface Batch {
  id: string;
  type: string;
  params: string[];
  tags: Tags;
  label?: string;
  parent?: string;
  lines: Message[];
}

interface HistoryRequest {
  kind: 'latest' | 'before' | 'after' | 'targets';
  target: string;
  limit: number;
}

interface PendingSend {
  key: string;
}

type Listener = (s: AppState) => void;

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export class Client {
  state: AppState;
  private env: Env;
  private sock: SocketLike | null = null;
  private listeners = new Set<Listener>();
  private desiredNick = '';
  private password: string | null = null;
  private rememberPassword = false;
  private realname = 'teahouse web';
  private fromPicker = false;
  private intentionalClose = false;
  private attempt = 0;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  private lastLine = 0;
  private registered = false;
  private capLs = new Map<string, string>();
  private caps = new Set<string>();
  private saslDone = false;
  private welcomeDone = false;
  private nickTries = 0;
  private batches = new Map<string, Batch>();
  private labelSeq = 0;
  private localSeq = 0;
  private historyReqs = new Map<string, HistoryRequest>();
  private historyFifo = new Map<string, HistoryRequest[]>();
  private pendingSends = new Map<string, PendingSend>();
  private names = new Map<string, Member[]>();
  private switchOnJoin: string | null = null;
  private lastTypingSent = new Map<string, number>();
  private online = true;
  private lastMarkSent = new Map<string, number>();
  private markTimers = new Map<string, unknown>();
  private reclaimTimers: unknown[] = [];
  private reclaiming = false;

  constructor(env: Env) {
    this.env = env;
    const savedActive = env.storage.getItem(K.active) ?? '';
    this.state = {
      conn: { status: 'picker' },
      nick: env.storage.getItem(K.nick) ?? '',
      buffers: { [SERVER_KEY]: newBuffer('teahouse', 'server') },
      active: savedActive || bufferKey(DEFAULT_ROOM),
      caps: [],
      isupport: {},
      network: 'teahouse',
    };
  }

  // ---------------------------------------------------------------- plumbing

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(patch: Partial<AppState>): void {
    this.state = { ...this.state, ...patch };
    for (const l of this.listeners) l(this.state);
  }

  private setConn(patch: Partial<ConnState>, replace = false): void {
    this.set({ conn: replace ? (patch as ConnState) : { ...this.state.conn, ...patch } });
  }

  private setBuffers(bufs: Buffers): void {
    if (bufs !== this.state.buffers) this.set({ buffers: bufs });
  }

  private updateBuffer(key: string, fn: (b: AppBuffer) => AppBuffer): void {
    const b = this.state.buffers[key];
    if (!b) return;
    const nb = fn(b);
    if (nb !== b) this.setBuffers(withBuffer(this.state.buffers, nb));
  }

  /** Send one IRC line (one WebSocket frame, no CR/LF). */
  sendRaw(m: { tags?: Tags; command: string; params?: string[] }): boolean {
    if (!this.sock) return false;
    try {
      this.sock.send(serialize(m));
      return true;
    } catch {
      return false;
    }
  }

  private has(cap: string): boolean {
    return this.caps.has(cap);
  }

  private nextLabel(): string {
    return 'th' + ++this.labelSeq;
  }

  private localId(): string {
    return 'local-' + ++this.localSeq;
  }

  /** A first login from the picker that has not been welcomed yet (the picker stays up). */
  get pickerPending(): boolean {
    return this.fromPicker && !this.registered && this.state.conn.status !== 'disconnected';
  }

  get connected(): boolean {
    return this.state.conn.status === 'connected';
  }

  get chantypes(): string {
    return this.state.isupport.CHANTYPES ?? '#';
  }

  private prefixModes(): { modes: string; chars: string } {
    const p = this.state.isupport.PREFIX ?? '(ov)@+';
    const m = /^\(([^)]*)\)(.*)$/.exec(p);
    return m ? { modes: m[1], chars: m[2] } : { modes: 'ov', chars: '@+' };
  }

  isChannel(name: string): boolean {
    return isChannel(name, this.chantypes);
  }

  private isMe(nick: string): boolean {
    return casefold(nick) === casefold(this.state.nick);
  }

  // ---------------------------------------------------------------- storage

  private savedList(k: string): string[] {
    try {
      const v = JSON.parse(this.env.storage.getItem(k) ?? '[]');
      return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
    } catch {
      return [];
    }
  }

  private persistBuffers(): void {
    const chans: string[] = [];
    const queries: string[] = [];
    for (const b of Object.values(this.state.buffers)) {
      if (b.kind === 'channel') chans.push(b.name);
      else if (b.kind === 'query') queries.push(b.name);
    }
    this.env.storage.setItem(K.rooms, JSON.stringify(chans));
    this.env.storage.setItem(K.queries, JSON.stringify(queries));
  }

  private localMarker(key: string): number {
    return Number(this.env.storage.getItem(K.read + key) ?? 0) || 0;
  }

  // ---------------------------------------------------------------- lifecycle

  /** On page load: connect straight away when a nick was saved, else stay on the picker. */
  start(): void {
    const nick = this.env.storage.getItem(K.nick);
    if (nick) {
      this.desiredNick = nick;
      this.password = this.env.storage.getItem(K.password);
      this.rememberPassword = !!this.password;
      this.fromPicker = false;
      // Restore saved buffers so that the sidebar looks as it did.
      let bufs = this.state.buffers;
      for (const c of this.savedList(K.rooms)) {
        const b = newBuffer(c, 'channel', this.localMarker(bufferKey(c)));
        if (!bufs[b.key]) bufs = withBuffer(bufs, b);
      }
      for (const q of this.savedList(K.queries)) {
        const b = newBuffer(q, 'query', this.localMarker(bufferKey(q)));
        if (!bufs[b.key]) bufs = withBuffer(bufs, b);
      }
      this.set({ buffers: bufs, nick });
      this.connect();
    } else {
      this.setConn({ status: 'picker' }, true);
    }
  }

  /** The nickname picker was submitted. */
  login(nick: string, password: string | null, remember: boolean): void {
    this.desiredNick = nick.trim();
    this.password = password ? password : null;
    this.rememberPassword = remember && !!password;
    this.fromPicker = true;
    this.set({ nick: this.desiredNick });
    this.connect();
  }

  /** Forget the saved nick and password and go back to the picker. */
  logout(): void {
    this.env.storage.removeItem(K.nick);
    this.env.storage.removeItem(K.password);
    this.password = null;
    this.desiredNick = '';
    this.disconnect('Logged out');
    this.set({
      nick: '',
      account: undefined,
      buffers: { [SERVER_KEY]: newBuffer(this.state.network, 'server') },
      conn: { status: 'picker' },
    });
  }

  /** /quit: leave, and do not come back until asked. */
  quit(reason = ''): void {
    this.disconnect(reason);
    this.setConn({ status: 'disconnected', retryAt: undefined });
  }

  private disconnect(reason: string): void {
    this.intentionalClose = true;
    this.clearTimers();
    if (this.sock) {
      this.sendRaw({ command: 'QUIT', params: reason ? [reason] : [] });
      const s = this.sock;
      this.detach();
      try {
        s.close(1000);
      } catch {
        /* already closed */
      }
    }
  }

  private detach(): void {
    if (!this.sock) return;
    this.sock.onopen = this.sock.onmessage = this.sock.onclose = this.sock.onerror = null;
    this.sock = null;
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.env.clearTimeout(this.retryTimer);
    if (this.pingTimer !== null) this.env.clearTimeout(this.pingTimer);
    this.retryTimer = this.pingTimer = null;
    for (const h of this.markTimers.values()) this.env.clearTimeout(h);
    this.markTimers.clear();
    for (const h of this.reclaimTimers) this.env.clearTimeout(h);
    this.reclaimTimers = [];
    this.reclaiming = false;
  }

  /** The "reconnect now" button, and coming back online. */
  reconnectNow(): void {
    if (this.state.conn.status === 'picker') return;
    if (this.sock && this.state.conn.status !== 'reconnecting' && this.state.conn.status !== 'offline') return;
    this.attempt = 0;
    this.connect();
  }

  setOnline(online: boolean): void {
    this.online = online;
    if (!online) {
      if (this.state.conn.status === 'reconnecting') {
        this.clearTimers();
        this.setConn({ status: 'offline', retryAt: undefined });
      }
    } else if (this.state.conn.status === 'offline' || this.state.conn.status === 'reconnecting') {
      this.reconnectNow();
    }
  }

  private connect(): void {
    this.clearTimers();
    if (this.sock) {
      const s = this.sock;
      this.detach();
      try {
        s.close();
      } catch {
        /* ignore */
      }
    }
    this.intentionalClose = false;
    this.registered = false;
    this.welcomeDone = false;
    this.saslDone = false;
    this.capLs = new Map();
    this.caps = new Set();
    this.batches.clear();
    this.historyReqs.clear();
    this.historyFifo.clear();
    this.names.clear();
    this.nickTries = 0;
    this.setConn({ status: 'connecting', retryAt: undefined, pickerError: undefined, serverError: undefined });
    let sock: SocketLike;
    try {
      sock = this.env.connect();
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.sock = sock;
    sock.onopen = () => this.onOpen();
    sock.onmessage = (ev) => {
      if (typeof ev.data === 'string') this.onLine(ev.data);
    };
    sock.onclose = () => this.onClose();
    sock.onerror = () => {
      /* onclose follows */
    };
  }

  private onOpen(): void {
    this.lastLine = this.env.now();
    this.sendRaw({ command: 'CAP', params: ['LS', '302'] });
    this.sendRaw({ command: 'NICK', params: [this.desiredNick] });
    this.sendRaw({ command: 'USER', params: [userName(this.desiredNick), '0', '*', this.realname] });
    this.armPing();
  }

  private onClose(): void {
    this.detach();
    this.clearTimers();
    // Pending copies will never come back: mark them failed.
    for (const [label, p] of this.pendingSends) this.updateBuffer(p.key, (b) => failPending(b, label));
    this.pendingSends.clear();
    // Channels are not joined any more until we rejoin.
    let bufs = this.state.buffers;
    for (const b of Object.values(bufs)) {
      if (b.kind === 'channel' && b.joined) bufs = withBuffer(bufs, { ...b, joined: false, typing: {} });
      if (b.history === 'loading') bufs = withBuffer(bufs, { ...(bufs[b.key] as AppBuffer), history: 'idle' });
    }
    this.setBuffers(bufs);
    if (this.intentionalClose) return;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.online) {
      this.setConn({ status: 'offline', retryAt: undefined });
      return;
    }
    const base = Math.min(MAX_BACKOFF, 1000 * 2 ** this.attempt);
    const delay = Math.min(MAX_BACKOFF, Math.round(base * (0.8 + 0.4 * this.env.random())));
    this.attempt++;
    this.setConn({ status: 'reconnecting', retryAt: this.env.now() + delay });
    this.retryTimer = this.env.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  /** Keepalive: PING after 60 s of silence; no answer within 30 s more means the link is dead. */
  private armPing(): void {
    if (this.pingTimer !== null) this.env.clearTimeout(this.pingTimer);
    this.pingTimer = this.env.setTimeout(() => {
      this.pingTimer = null;
      if (!this.sock) return;
      const idle = this.env.now() - this.lastLine;
      if (idle >= 90000) {
        const s = this.sock;
        this.onClose();
        try {
          s.close();
        } catch {
          /* ignore */
        }
        return;
      }
      if (idle >= 60000) this.sendRaw({ command: 'PING', params: ['keepalive'] });
      this.armPing();
    }, 30000);
  }

  // ---------------------------------------------------------------- incoming

  onLine(line: string): void {
    this.lastLine = this.env.now();
    const m = parse(line);
    if (!m) return;
    // Batches collect their lines until they end.
    const bid = m.tags.batch;
    if (bid && this.batches.has(bid) && m.command !== 'BATCH') {
      this.batches.get(bid)!.lines.push(m);
      return;
    }
    if (m.command === 'BATCH') {
      this.onBatch(m);
      return;
    }
    this.dispatch(m);
  }

  private onBatch(m: Message): void {
    const ref = m.params[0] ?? '';
    if (ref.startsWith('+')) {
      const id = ref.slice(1);
      const parent = m.tags.batch && this.batches.has(m.tags.batch) ? m.tags.batch : undefined;
      const label = m.tags.label ?? (parent ? this.batches.get(parent)!.label : undefined);
      this.batches.set(id, { id, type: m.params[1] ?? '', params: m.params.slice(2), tags: m.tags, label, parent, lines: [] });
      return;
    }
    if (!ref.startsWith('-')) return;
    const id = ref.slice(1);
    const b = this.batches.get(id);
    if (!b) return;
    this.batches.delete(id);
    const forward = (msg: Message) => {
      if (b.parent && this.batches.has(b.parent)) this.batches.get(b.parent)!.lines.push(msg);
      else this.dispatch(msg);
    };
    switch (b.type) {
      case 'chathistory':
        this.onHistoryBatch(b);
        break;
      case 'draft/chathistory-targets':
        this.onTargetsBatch(b);
        break;
      case 'draft/multiline': {
        const combined = combineMultiline(b);
        if (combined) forward(combined);
        break;
      }
      default:
        for (const line of b.lines) {
          if (b.label && !line.tags.label) line.tags = { ...line.tags, label: b.label };
          if (line.command === 'BATCH') continue;
          forward(line);
        }
    }
  }

  private dispatch(m: Message): void {
    const src = parseSource(m.source);
    const p = m.params;
    const label = m.tags.label;
    switch (m.command) {
      case 'PING':
        this.sendRaw({ command: 'PONG', params: p.length ? [p[p.length - 1]] : [] });
        return;
      case 'PONG':
        return;
      case 'ERROR':
        this.setConn({ serverError: p[p.length - 1] ?? '' });
        this.notice(this.state.active, { kind: 'error', text: p[p.length - 1] ?? 'ERROR' });
        return;
      case 'CAP':
        this.onCap(p);
        return;
      case 'AUTHENTICATE':
        if (p[0] === '+' && this.password !== null) {
          const payload = base64Utf8('\0' + this.desiredNick + '\0' + this.password);
          for (let i = 0; i < payload.length; i += 400) this.sendRaw({ command: 'AUTHENTICATE', params: [payload.slice(i, i + 400)] });
          if (payload.length % 400 === 0) this.sendRaw({ command: 'AUTHENTICATE', params: ['+'] });
        }
        return;
      case '900':
        this.set({ account: p[2] });
        return;
      case '901':
        this.set({ account: undefined });
        return;
      case '903':
        this.saslDone = true;
        if (!this.registered) this.sendRaw({ command: 'CAP', params: ['END'] });
        return;
      case '902':
      case '904':
      case '905':
      case '906':
      case '908':
        if (m.command === '908') return; // the 904 that follows says it
        if (!this.registered) {
          // Wrong password (or unknown account): ask again.
          this.backToPicker({ key: 'wrongPassword' }, true);
        }
        return;
      case '907':
        return;
      case '001':
        this.onWelcome(m);
        return;
      case '005':
        this.onIsupport(p);
        return;
      case '376':
      case '422':
        this.afterWelcome();
        this.serverNotice(p[p.length - 1] ?? '');
        return;
      case '432':
      case '433':
      case '436':
      case '437':
        this.onNickError(m);
        return;
      case 'REGISTER':
        if (p[0] === 'SUCCESS') {
          this.set({ account: p[1], register: { ok: true, text: p[p.length - 1] ?? '' } });
          if (this.rememberPassword && this.password) this.env.storage.setItem(K.password, this.password);
          this.notice(this.state.active, { kind: 'info', text: p[p.length - 1] ?? '' });
        } else if (p[0] === 'VERIFICATION_REQUIRED') {
          this.set({ register: { ok: false, text: p[p.length - 1] ?? '' } });
        }
        return;
      case 'FAIL':
      case 'WARN':
      case 'NOTE':
        this.onStandardReply(m);
        return;
      case 'PRIVMSG':
      case 'NOTICE':
        this.onPrivmsg(m, false);
        return;
      case 'TAGMSG':
        this.onTagmsg(m, false);
        return;
      case 'JOIN':
        this.onJoin(m);
        return;
      case 'PART':
        this.onPart(m);
        return;
      case 'KICK':
        this.onKick(m);
        return;
      case 'QUIT':
        this.onQuit(m);
        return;
      case 'NICK':
        this.onNick(m);
        return;
      case 'TOPIC':
        this.onTopic(m);
        return;
      case 'MODE':
        this.onMode(m);
        return;
      case 'REDACT':
        this.onRedact(m);
        return;
      case 'MARKREAD':
        this.onMarkread(m);
        return;
      case 'AWAY':
        this.forMember(src.nick, (b) => updateMember(b, src.nick, { away: p.length > 0 }));
        return;
      case 'ACCOUNT':
        this.forMember(src.nick, (b) => updateMember(b, src.nick, { account: p[0] === '*' ? undefined : p[0] }));
        return;
      case 'SETNAME':
        this.forMember(src.nick, (b) => updateMember(b, src.nick, { realname: p[0] }));
        return;
      case 'CHGHOST':
        return;
      case 'INVITE':
        this.notice(this.state.active, {
          kind: 'info', text: '', i18n: { key: 'invited', args: { nick: src.nick, channel: p[1] ?? '' } },
        });
        return;
      case '332': {
        const key = bufferKey(p[1] ?? '');
        this.updateBuffer(key, (b) => ({ ...b, topic: p[2] ?? '' }));
        return;
      }
      case '333': {
        const key = bufferKey(p[1] ?? '');
        this.updateBuffer(key, (b) => ({ ...b, topicBy: parseSource(p[2]).nick, topicTime: Number(p[3]) * 1000 || undefined }));
        return;
      }
      case '331': {
        this.updateBuffer(bufferKey(p[1] ?? ''), (b) => ({ ...b, topic: '' }));
        return;
      }
      case '353':
        this.onNames(p);
        return;
      case '366': {
        const key = bufferKey(p[1] ?? '');
        const list = this.names.get(key);
        this.names.delete(key);
        if (list) this.updateBuffer(key, (b) => setMembers(b, list));
        return;
      }
      case '321':
        this.set({ rooms: { loading: true, list: [] } });
        return;
      case '322': {
        const cur = this.state.rooms ?? { loading: true, list: [] };
        this.set({ rooms: { loading: true, list: [...cur.list, { name: p[1] ?? '', users: Number(p[2]) || 0, topic: p[3] ?? '' }] } });
        return;
      }
      case '323':
        this.set({ rooms: { loading: false, list: this.state.rooms?.list ?? [] } });
        return;
      case '324':
      case '329':
      case '315':
      case '318':
      case '369':
      case '368':
      case '305':
      case '306':
        if (m.command === '305' || m.command === '306') this.notice(this.state.active, { kind: 'info', text: p[p.length - 1] ?? '' });
        return;
      case '311':
        this.notice(this.state.active, { kind: 'info', text: `${p[1]} (${p[2]}@${p[3]}): ${p[5] ?? ''}` });
        return;
      case '301':
        this.notice(this.state.active, { kind: 'info', text: `${p[1]}: ${p[2] ?? ''}` });
        return;
      case '312':
      case '313':
      case '317':
      case '319':
      case '330':
      case '335':
      case '338':
      case '314':
      case '352':
      case '354':
        this.notice(this.state.active, { kind: 'info', text: p.slice(1).join(' ') });
        return;
      case '404':
      case '401':
      case '403':
      case '442':
        if (label) this.failLabel(label);
        this.notice(this.state.active, { kind: 'error', text: p.slice(1).join(' ') });
        return;
      case '471':
      case '473':
      case '474':
      case '475':
      case '405':
        if (this.switchOnJoin === bufferKey(p[1] ?? '')) this.switchOnJoin = null;
        this.notice(this.state.active, {
          kind: 'error', text: '', i18n: { key: 'cannotJoin', args: { channel: p[1] ?? '', reason: p[p.length - 1] ?? '' } },
        });
        return;
      default:
        if (/^\d{3}$/.test(m.command)) {
          const n = Number(m.command);
          if (label) this.failLabel(label);
          if (n >= 400 && n < 600) this.notice(this.state.active, { kind: 'error', text: p.slice(1).join(' ') });
          else if (this.registered) this.serverNotice(p.slice(1).join(' '));
        }
    }
  }

  private failLabel(label: string): void {
    const pend = this.pendingSends.get(label);
    if (!pend) return;
    this.pendingSends.delete(label);
    this.updateBuffer(pend.key, (b) => failPending(b, label));
  }

  private onCap(p: string[]): void {
    const sub = (p[1] ?? '').toUpperCase();
    if (sub === 'LS') {
      const more = p[2] === '*';
      const list = more ? p[3] ?? '' : p[2] ?? '';
      for (const [k, v] of parseCaps(list)) this.capLs.set(k, v);
      if (!more && !this.registered) {
        const req = WANTED_CAPS.filter((c) => this.capLs.has(c));
        if (req.length) this.sendRaw({ command: 'CAP', params: ['REQ', req.join(' ')] });
        else this.sendRaw({ command: 'CAP', params: ['END'] });
      }
    } else if (sub === 'ACK') {
      for (const c of (p[2] ?? '').split(' ')) {
        if (!c) continue;
        if (c.startsWith('-')) this.caps.delete(c.slice(1));
        else this.caps.add(c);
      }
      this.set({ caps: [...this.caps] });
      if (!this.registered) this.maybeSasl();
    } else if (sub === 'NAK') {
      if (!this.registered) this.maybeSasl();
    } else if (sub === 'NEW') {
      for (const [k, v] of parseCaps(p[2] ?? '')) this.capLs.set(k, v);
      const req = WANTED_CAPS.filter((c) => this.capLs.has(c) && !this.caps.has(c) && c !== 'sasl');
      if (req.length) this.sendRaw({ command: 'CAP', params: ['REQ', req.join(' ')] });
    } else if (sub === 'DEL') {
      for (const c of (p[2] ?? '').split(' ')) this.caps.delete(c);
      this.set({ caps: [...this.caps] });
    }
  }

  private maybeSasl(): void {
    if (this.password !== null && this.has('sasl') && !this.saslDone) {
      this.sendRaw({ command: 'AUTHENTICATE', params: ['PLAIN'] });
    } else {
      this.sendRaw({ command: 'CAP', params: ['END'] });
    }
  }

  /** Back to the nickname picker (wrong password, nick taken at first login, registered nick). */
  private backToPicker(err: Notice, needPassword: boolean): void {
    this.intentionalClose = true;
    this.clearTimers();
    if (this.sock) {
      this.sendRaw({ command: 'QUIT', params: [] });
      const s = this.sock;
      this.detach();
      try {
        s.close(1000);
      } catch {
        /* ignore */
      }
    }
    this.password = needPassword ? null : this.password;
    this.setConn({ status: 'picker', pickerError: err, needPassword }, true);
  }

  private onNickError(m: Message): void {
    const p = m.params;
    const text = p[p.length - 1] ?? '';
    const registeredNick = /registered/i.test(text);
    if (!this.registered) {
      if (registeredNick) {
        this.backToPicker({ key: 'nickRegistered', args: { nick: p[1] ?? this.desiredNick } }, true);
        return;
      }
      if (m.command === '432') {
        this.backToPicker({ key: 'nickInvalid', args: { reason: text } }, false);
        return;
      }
      if (this.fromPicker) {
        this.backToPicker({ key: 'nickTaken', args: { nick: p[1] ?? this.desiredNick } }, false);
        return;
      }
      // An automatic reconnection: try a variant (our old connection may still be there).
      this.nickTries++;
      const alt = this.nickTries <= 3 ? this.desiredNick + '_'.repeat(this.nickTries) : this.desiredNick + Math.floor(this.env.random() * 1000);
      this.sendRaw({ command: 'NICK', params: [alt] });
      return;
    }
    if (this.reclaiming) {
      // Our old nick is still taken: stay quietly on the variant.
      this.reclaiming = false;
      return;
    }
    this.notice(this.state.active, { kind: 'error', text: p.slice(1).join(' ') });
  }

  private onWelcome(m: Message): void {
    this.registered = true;
    this.attempt = 0;
    const nick = m.params[0] ?? this.desiredNick;
    this.set({ nick });
    if (casefold(nick) === casefold(this.desiredNick)) {
      this.env.storage.setItem(K.nick, nick);
      if (this.rememberPassword && this.password) this.env.storage.setItem(K.password, this.password);
    }
    this.fromPicker = false;
    if (casefold(nick) !== casefold(this.desiredNick) && this.desiredNick) {
      for (const ms of RECLAIM_AFTER) {
        this.reclaimTimers.push(
          this.env.setTimeout(() => {
            if (!this.connected || this.isMe(this.desiredNick)) return;
            this.reclaiming = true;
            this.sendRaw({ command: 'NICK', params: [this.desiredNick] });
          }, ms),
        );
      }
    }
    this.setConn({ status: 'connected', retryAt: undefined, pickerError: undefined, needPassword: false });
    this.serverNotice(m.params[m.params.length - 1] ?? '');
  }

  private onIsupport(p: string[]): void {
    const is = { ...this.state.isupport };
    for (const tok of p.slice(1, -1)) {
      if (tok.startsWith('-')) {
        delete is[tok.slice(1)];
        continue;
      }
      const eq = tok.indexOf('=');
      if (eq < 0) is[tok] = '';
      else is[tok.slice(0, eq)] = tok.slice(eq + 1);
    }
    const network = is.NETWORK || this.state.network;
    const bufs = this.state.buffers;
    const sb = bufs[SERVER_KEY];
    this.set({ isupport: is, network, buffers: sb && sb.name !== network ? withBuffer(bufs, { ...sb, name: network }) : bufs });
  }

  /** After the MOTD: join rooms, restore DMs, fetch what was missed. */
  private afterWelcome(): void {
    if (this.welcomeDone) return;
    this.welcomeDone = true;
    let chans = Object.values(this.state.buffers).filter((b) => b.kind === 'channel').map((b) => b.name);
    if (!chans.length) {
      const saved = this.env.storage.getItem(K.rooms);
      chans = saved === null ? [DEFAULT_ROOM] : this.savedList(K.rooms);
      if (!chans.length && saved === null) chans = [DEFAULT_ROOM];
    }
    if (chans.length) {
      // One JOIN per 400 bytes of channel list.
      let cur: string[] = [];
      const flush = () => {
        if (cur.length) this.sendRaw({ command: 'JOIN', params: [cur.join(',')] });
        cur = [];
      };
      for (const c of chans) {
        if (utf8Length(cur.join(',')) + utf8Length(c) > 400) flush();
        cur.push(c);
      }
      flush();
    }
    if (this.has('draft/chathistory')) {
      for (const b of Object.values(this.state.buffers)) if (b.kind === 'query') this.fetchMissed(b.key);
      const now = this.env.now();
      this.requestHistory({ kind: 'targets', target: '*', limit: 50 }, [
        'TARGETS', 'timestamp=' + isoTime(0), 'timestamp=' + isoTime(now + 60000), '50',
      ]);
    }
  }

  /** History after (re)joining: AFTER the newest msgid we have, else LATEST. */
  private fetchMissed(key: string): void {
    const b = this.state.buffers[key];
    if (!b || !this.has('draft/chathistory')) return;
    const newest = newestMsgid(b);
    if (newest) this.requestHistory({ kind: 'after', target: b.name, limit: AFTER_PAGE }, ['AFTER', b.name, 'msgid=' + newest, String(AFTER_PAGE)]);
    else {
      this.updateBuffer(key, (x) => ({ ...x, history: 'loading' }));
      this.requestHistory({ kind: 'latest', target: b.name, limit: HISTORY_PAGE }, ['LATEST', b.name, '*', String(HISTORY_PAGE)]);
    }
  }

  private requestHistory(req: HistoryRequest, params: string[]): void {
    const tags: Tags = {};
    if (this.has('labeled-response')) {
      const label = this.nextLabel();
      tags.label = label;
      this.historyReqs.set(label, req);
    } else {
      const k = casefold(req.target);
      this.historyFifo.set(k, [...(this.historyFifo.get(k) ?? []), req]);
    }
    this.sendRaw({ tags, command: 'CHATHISTORY', params });
  }

  private takeRequest(label: string | undefined, target: string): HistoryRequest | undefined {
    if (label && this.historyReqs.has(label)) {
      const r = this.historyReqs.get(label)!;
      this.historyReqs.delete(label);
      return r;
    }
    const k = casefold(target);
    const q = this.historyFifo.get(k);
    if (q && q.length) {
      const r = q[0];
      this.historyFifo.set(k, q.slice(1));
      return r;
    }
    return undefined;
  }

  /** Scrolling to the top: the page before the oldest message we have. */
  loadOlder(key: string): void {
    const b = this.state.buffers[key];
    if (!b || b.kind === 'server' || b.history !== 'idle' || !this.connected || !this.has('draft/chathistory')) return;
    if (b.kind === 'channel' && !b.joined) return;
    const oldest = oldestMsgid(b);
    this.updateBuffer(key, (x) => ({ ...x, history: 'loading' }));
    if (oldest) this.requestHistory({ kind: 'before', target: b.name, limit: HISTORY_PAGE }, ['BEFORE', b.name, 'msgid=' + oldest, String(HISTORY_PAGE)]);
    else this.requestHistory({ kind: 'latest', target: b.name, limit: HISTORY_PAGE }, ['LATEST', b.name, '*', String(HISTORY_PAGE)]);
  }

  private onHistoryBatch(batch: Batch): void {
    const target = batch.params[0] ?? '';
    const req = this.takeRequest(batch.label, target);
    let key = bufferKey(target);
    if (!this.state.buffers[key]) {
      if (!target || target === '*') return;
      this.ensureBuffer(target, this.isChannel(target) ? 'channel' : 'query');
      key = bufferKey(target);
    }
    const msgs: ChatMessage[] = [];
    const reactions: Message[] = [];
    for (const line of batch.lines) {
      if (line.command === 'PRIVMSG' || line.command === 'NOTICE') {
        const cm = this.toChatMessage(line);
        if (cm) msgs.push(cm);
      } else if (line.command === 'TAGMSG') {
        reactions.push(line);
      }
    }
    let b = this.state.buffers[key];
    const before = b.messages.length;
    b = addMessages(b, msgs, req?.kind === 'before' ? 'prepend' : 'append');
    for (const r of reactions) b = this.applyReaction(b, r);
    const added = b.messages.length - before;
    const count = batch.lines.length;
    if (req?.kind === 'before' || req?.kind === 'latest') {
      b = { ...b, history: count === 0 || count < req.limit ? 'done' : 'idle' };
    } else if (b.history === 'loading') {
      b = { ...b, history: 'idle' };
    }
    this.setBuffers(withBuffer(this.state.buffers, b));
    // More was missed than one page: keep going.
    if (req?.kind === 'after' && count >= req.limit && added > 0) this.fetchMissed(key);
  }

  private onTargetsBatch(batch: Batch): void {
    this.takeRequest(batch.label, '*');
    for (const line of batch.lines) {
      if (line.command !== 'CHATHISTORY' || line.params[0] !== 'TARGETS') continue;
      const target = line.params[1] ?? '';
      if (!target || this.isChannel(target) || this.isMe(target)) continue;
      const key = bufferKey(target);
      if (this.state.buffers[key]) continue; // already fetched after welcome
      this.ensureBuffer(target, 'query');
      this.fetchMissed(key);
    }
    this.persistBuffers();
  }

  private onStandardReply(m: Message): void {
    const [command, code] = m.params;
    const desc = m.params[m.params.length - 1] ?? '';
    if (m.command === 'FAIL' && command === 'REGISTER') {
      this.set({ register: { ok: false, text: desc } });
    }
    if (m.command === 'FAIL' && command === 'CHATHISTORY') {
      const target = m.params[2] ?? '';
      const req = this.takeRequest(m.tags.label, target);
      const key = req ? bufferKey(req.target) : bufferKey(target);
      if (req?.kind === 'after') {
        // The msgid we had may be gone (redacted): fall back to the latest messages.
        this.requestHistory({ kind: 'latest', target: req.target, limit: HISTORY_PAGE }, ['LATEST', req.target, '*', String(HISTORY_PAGE)]);
        return;
      }
      this.updateBuffer(key, (b) => (b.history === 'loading' ? { ...b, history: 'done' } : b));
      if (code === 'INVALID_TARGET') return;
    }
    if (m.command === 'FAIL' && command === 'MARKREAD' && code === 'ACCOUNT_REQUIRED') return;
    if (m.tags.label) this.failLabel(m.tags.label);
    this.notice(this.state.active, { kind: m.command === 'FAIL' ? 'error' : 'info', text: desc });
  }

  // ---------------------------------------------------------------- buffers

  ensureBuffer(name: string, kind: 'channel' | 'query'): string {
    const key = bufferKey(name);
    const b = this.state.buffers[key];
    if (!b) {
      this.setBuffers(withBuffer(this.state.buffers, newBuffer(name, kind, this.localMarker(key))));
      this.persistBuffers();
    } else if (b.name !== name && kind === 'query') {
      this.setBuffers(withBuffer(this.state.buffers, { ...b, name }));
    }
    return key;
  }

  setActive(key: string): void {
    if (!this.state.buffers[key] || this.state.active === key) return;
    this.set({ active: key });
    this.env.storage.setItem(K.active, key);
  }

  /** Alt+Up / Alt+Down. */
  cycleBuffer(dir: 1 | -1): void {
    const order = bufferOrder(this.state.buffers);
    const i = order.indexOf(this.state.active);
    const next = order[(i + dir + order.length) % order.length];
    if (next) this.setActive(next);
  }

  /** Alt+Shift+Down: the next buffer with unread messages (mentions first). */
  nextUnread(): void {
    const order = bufferOrder(this.state.buffers);
    const i = order.indexOf(this.state.active);
    const rot = [...order.slice(i + 1), ...order.slice(0, i + 1)];
    const hit = rot.find((k) => mentionCount(this.state.buffers[k]) > 0) ?? rot.find((k) => k !== this.state.active && unreadCount(this.state.buffers[k]) > 0);
    if (hit) this.setActive(hit);
  }

  openQuery(nick: string): void {
    const key = this.ensureBuffer(nick, 'query');
    this.setActive(key);
    const b = this.state.buffers[key];
    if (b && b.messages.length === 0 && this.connected) this.fetchMissed(key);
  }

  join(name: string, key?: string): void {
    let chan = name.trim();
    if (!chan) return;
    if (!this.isChannel(chan)) chan = this.chantypes[0] + chan;
    const k = bufferKey(chan);
    if (this.state.buffers[k]?.joined) {
      this.setActive(k);
      return;
    }
    this.switchOnJoin = k;
    this.sendRaw({ command: 'JOIN', params: key ? [chan, key] : [chan] });
  }

  part(key: string, reason = ''): void {
    const b = this.state.buffers[key];
    if (!b) return;
    if (b.kind === 'channel' && b.joined && this.connected) {
      this.sendRaw({ command: 'PART', params: reason ? [b.name, reason] : [b.name] });
    } else {
      this.closeBuffer(key);
    }
  }

  closeBuffer(key: string): void {
    if (key === SERVER_KEY || !this.state.buffers[key]) return;
    const order = bufferOrder(this.state.buffers);
    const bufs = withoutBuffer(this.state.buffers, key);
    let active = this.state.active;
    if (active === key) {
      const i = order.indexOf(key);
      active = order[i + 1] ?? order[i - 1] ?? SERVER_KEY;
      if (!bufs[active]) active = SERVER_KEY;
    }
    this.set({ buffers: bufs, active });
    this.env.storage.setItem(K.active, active);
    this.persistBuffers();
  }

  private forMember(nick: string, fn: (b: AppBuffer) => AppBuffer): void {
    let bufs = this.state.buffers;
    for (const b of Object.values(bufs)) if (b.kind === 'channel' && hasMember(b, nick)) bufs = withBuffer(bufs, fn(b));
    this.setBuffers(bufs);
  }

  /** A system line in a buffer (the active one when the key is unknown). */
  notice(key: string, m: Partial<ChatMessage> & { kind: ChatMessage['kind'] }, time?: number): void {
    const k = this.state.buffers[key] ? key : SERVER_KEY;
    const msg: ChatMessage = { id: this.localId(), time: time ?? this.env.now(), nick: '', text: '', ...m };
    this.updateBuffer(k, (b) => addMessage(b, msg));
  }

  private serverNotice(text: string): void {
    if (text) this.notice(SERVER_KEY, { kind: 'info', text });
  }

  private timeOf(m: Message): number {
    const t = m.tags.time ? Date.parse(m.tags.time) : NaN;
    return Number.isFinite(t) ? t : this.env.now();
  }

  // ---------------------------------------------------------------- messages

  private toChatMessage(m: Message): ChatMessage | null {
    const src = parseSource(m.source);
    const text = m.params[1] ?? '';
    const self = this.isMe(src.nick);
    let kind: ChatMessage['kind'] = m.command === 'NOTICE' ? 'notice' : 'privmsg';
    let body = text;
    const c = parseCtcp(text);
    if (c) {
      if (c.command !== 'ACTION') return null;
      kind = 'action';
      body = c.text;
    }
    return {
      id: m.tags.msgid ?? this.localId(),
      msgid: m.tags.msgid,
      label: self ? m.tags.label : undefined,
      time: this.timeOf(m),
      timeTag: m.tags.time,
      kind,
      nick: src.nick || m.source || '',
      text: body,
      replyTo: m.tags['+draft/reply'] || m.tags['+reply'] || undefined,
      self,
      highlight: !self && mentions(body, this.state.nick),
    };
  }

  /** Which buffer a PRIVMSG/NOTICE/TAGMSG/REDACT belongs to. */
  private targetBuffer(m: Message): { name: string; kind: 'channel' | 'query' | 'server' } {
    const src = parseSource(m.source);
    const target = m.params[0] ?? '';
    if (this.isChannel(target)) return { name: target, kind: 'channel' };
    if (!m.source || !m.source.includes('!') || src.nick === '*') return { name: '', kind: 'server' };
    if (this.isMe(src.nick)) return { name: target, kind: 'query' };
    return { name: src.nick, kind: 'query' };
  }

  private onPrivmsg(m: Message, _history: boolean): void {
    const cm = this.toChatMessage(m);
    if (!cm) return;
    const t = this.targetBuffer(m);
    let key: string;
    if (t.kind === 'server') {
      key = this.state.buffers[this.state.active] && this.registered ? this.state.active : SERVER_KEY;
    } else if (t.kind === 'query' && m.command === 'NOTICE' && !this.state.buffers[bufferKey(t.name)]) {
      // Notices from services and users go where you are, not to a new buffer.
      key = this.state.buffers[this.state.active] ? this.state.active : SERVER_KEY;
    } else {
      key = this.ensureBuffer(t.name, t.kind);
    }
    if (cm.self && !cm.label && this.pendingSends.size) {
      // An echo without our label (e.g. a draft/multiline echo whose label the server answered
      // with ACK): match the oldest pending copy with the same text.
      const pend = this.state.buffers[key]?.messages.find((x) => x.pending && x.label && x.text === cm.text && x.kind === cm.kind);
      if (pend) cm.label = pend.label;
    }
    if (cm.label) this.pendingSends.delete(cm.label);
    this.updateBuffer(key, (b) => {
      let nb = addMessage(b, cm);
      if (!cm.self) nb = setTyping(nb, cm.nick, 'done', 0);
      return nb;
    });
  }

  private applyReaction(b: AppBuffer, m: Message): AppBuffer {
    const src = parseSource(m.source);
    const target = m.tags['+draft/reply'] || m.tags['+reply'];
    if (!target) return b;
    const emoji = m.tags['+draft/react'] ?? m.tags['+react'];
    if (emoji) return react(b, target, emoji.slice(0, 64), src.nick, true);
    const un = m.tags['+draft/unreact'] ?? m.tags['+unreact'];
    if (un) return react(b, target, un.slice(0, 64), src.nick, false);
    return b;
  }

  private onTagmsg(m: Message, _history: boolean): void {
    const t = this.targetBuffer(m);
    if (t.kind === 'server') return;
    const src = parseSource(m.source);
    const typing = m.tags['+typing'];
    const hasReact = m.tags['+draft/react'] !== undefined || m.tags['+draft/unreact'] !== undefined || m.tags['+react'] !== undefined;
    if (!hasReact && typing === undefined) return;
    const key = hasReact ? this.ensureBuffer(t.name, t.kind) : bufferKey(t.name);
    this.updateBuffer(key, (b) => {
      let nb = b;
      if (hasReact) nb = this.applyReaction(nb, m);
      if (typing !== undefined && !this.isMe(src.nick)) nb = setTyping(nb, src.nick, typing, this.env.now() + TYPING_EXPIRE);
      return nb;
    });
  }

  private onJoin(m: Message): void {
    const src = parseSource(m.source);
    const chan = m.params[0] ?? '';
    const key = bufferKey(chan);
    const time = this.timeOf(m);
    if (this.isMe(src.nick)) {
      this.ensureBuffer(chan, 'channel');
      this.updateBuffer(key, (b) => ({ ...b, name: chan, joined: true, members: {}, history: b.history === 'loading' ? 'idle' : b.history }));
      this.persistBuffers();
      if (this.switchOnJoin === key || !this.state.buffers[this.state.active] || this.state.active === SERVER_KEY && this.welcomeDone) {
        this.setActive(key);
      }
      if (this.switchOnJoin === key) this.switchOnJoin = null;
      this.fetchMissed(key);
      return;
    }
    const account = m.params.length >= 3 && m.params[1] !== '*' ? m.params[1] : undefined;
    const realname = m.params.length >= 3 ? m.params[2] : undefined;
    this.updateBuffer(key, (b) => {
      const nb = addMember(b, { nick: src.nick, prefixes: '', account, realname });
      return addMessage(nb, sys(this.localId(), time, 'join', src.nick, { nick: src.nick, channel: chan }, m.tags.msgid));
    });
  }

  private onPart(m: Message): void {
    const src = parseSource(m.source);
    const chan = m.params[0] ?? '';
    const key = bufferKey(chan);
    const reason = m.params[1] ?? '';
    if (this.isMe(src.nick)) {
      this.closeBuffer(key);
      return;
    }
    this.updateBuffer(key, (b) =>
      addMessage(removeMember(b, src.nick), sys(this.localId(), this.timeOf(m), 'part', src.nick, { nick: src.nick, channel: chan, reason }, m.tags.msgid)),
    );
  }

  private onKick(m: Message): void {
    const src = parseSource(m.source);
    const [chan = '', victim = '', reason = ''] = m.params;
    const key = bufferKey(chan);
    const n = sys(this.localId(), this.timeOf(m), 'kick', victim, { nick: victim, channel: chan, by: src.nick, reason }, m.tags.msgid);
    if (this.isMe(victim)) {
      this.updateBuffer(key, (b) => addMessage({ ...b, joined: false, members: {} }, n));
      return;
    }
    this.updateBuffer(key, (b) => addMessage(removeMember(b, victim), n));
  }

  private onQuit(m: Message): void {
    const src = parseSource(m.source);
    const reason = m.params[0] ?? '';
    const time = this.timeOf(m);
    let bufs = this.state.buffers;
    for (const b of Object.values(bufs)) {
      const inChan = b.kind === 'channel' && hasMember(b, src.nick);
      const isQuery = b.kind === 'query' && casefold(b.name) === casefold(src.nick);
      if (!inChan && !isQuery) continue;
      bufs = withBuffer(bufs, addMessage(removeMember(b, src.nick), sys(this.localId(), time, 'quit', src.nick, { nick: src.nick, reason })));
    }
    this.setBuffers(bufs);
  }

  private onNick(m: Message): void {
    const src = parseSource(m.source);
    const to = m.params[0] ?? '';
    const time = this.timeOf(m);
    const me = this.isMe(src.nick);
    let bufs = this.state.buffers;
    for (const b of Object.values(bufs)) {
      const inChan = b.kind === 'channel' && hasMember(b, src.nick);
      const isQuery = b.kind === 'query' && casefold(b.name) === casefold(src.nick);
      if (!inChan && !isQuery && !(me && b.kind === 'channel' && b.joined)) continue;
      let nb = addMessage(renameMember(b, src.nick, to), sys(this.localId(), time, 'nick', src.nick, { old: src.nick, new: to }));
      if (isQuery && casefold(src.nick) !== casefold(to)) {
        bufs = withoutBuffer(bufs, b.key);
        nb = { ...nb, key: bufferKey(to), name: to };
        if (this.state.active === b.key) this.set({ active: nb.key });
      } else if (isQuery) {
        nb = { ...nb, name: to };
      }
      bufs = withBuffer(bufs, nb);
    }
    this.setBuffers(bufs);
    if (me) {
      this.set({ nick: to });
      this.reclaiming = false;
      this.desiredNick = to;
      this.env.storage.setItem(K.nick, to);
    }
    this.persistBuffers();
  }

  private onTopic(m: Message): void {
    const src = parseSource(m.source);
    const [chan = '', topic = ''] = m.params;
    const time = this.timeOf(m);
    this.updateBuffer(bufferKey(chan), (b) =>
      addMessage({ ...b, topic, topicBy: src.nick, topicTime: time }, sys(this.localId(), time, 'topic', src.nick, { nick: src.nick, topic }, m.tags.msgid)),
    );
  }

  private onMode(m: Message): void {
    const src = parseSource(m.source);
    const [target = '', modes = '', ...args] = m.params;
    if (!this.isChannel(target)) return;
    const key = bufferKey(target);
    const { modes: pm, chars } = this.prefixModes();
    const chanmodes = (this.state.isupport.CHANMODES ?? 'b,k,l,imnst').split(',');
    const [a = '', bm = '', cm = ''] = chanmodes;
    let add = true;
    let ai = 0;
    let b = this.state.buffers[key];
    if (!b) return;
    for (const ch of modes) {
      if (ch === '+') add = true;
      else if (ch === '-') add = false;
      else if (pm.includes(ch)) {
        const nick = args[ai++];
        if (nick) b = changePrefix(b, nick, chars[pm.indexOf(ch)], add, chars);
      } else if (a.includes(ch) || bm.includes(ch) || (cm.includes(ch) && add)) {
        ai++;
      }
    }
    const text = [modes, ...args].join(' ');
    b = addMessage(b, sys(this.localId(), this.timeOf(m), 'mode', src.nick, { nick: src.nick, modes: text }, m.tags.msgid));
    this.setBuffers(withBuffer(this.state.buffers, b));
  }

  private onRedact(m: Message): void {
    const [target = '', msgid = ''] = m.params;
    const src = parseSource(m.source);
    let key: string;
    if (this.isChannel(target)) key = bufferKey(target);
    else key = this.isMe(src.nick) ? bufferKey(target) : this.isMe(target) ? bufferKey(src.nick) : bufferKey(target);
    if (!this.state.buffers[key]) {
      // A redaction in a DM may name either side.
      const alt = [bufferKey(target), bufferKey(src.nick)].find((k) => this.state.buffers[k]);
      if (!alt) return;
      key = alt;
    }
    this.updateBuffer(key, (b) => removeMessage(b, msgid));
  }

  private onMarkread(m: Message): void {
    const [target = '', ts = ''] = m.params;
    const key = bufferKey(target);
    if (!ts.startsWith('timestamp=')) return;
    const t = Date.parse(ts.slice('timestamp='.length));
    if (!Number.isFinite(t)) return;
    this.updateBuffer(key, (b) => setMarker(b, t));
    this.env.storage.setItem(K.read + key, String(Math.max(t, this.localMarker(key))));
  }

  private onNames(p: string[]): void {
    const chan = p[2] ?? '';
    const key = bufferKey(chan);
    const { chars } = this.prefixModes();
    const list = this.names.get(key) ?? [];
    for (const entry of (p[3] ?? '').split(' ')) {
      if (!entry) continue;
      let i = 0;
      while (i < entry.length && chars.includes(entry[i])) i++;
      const nick = parseSource(entry.slice(i)).nick;
      if (nick) list.push({ nick, prefixes: entry.slice(0, i) });
    }
    this.names.set(key, list);
  }

  // ---------------------------------------------------------------- outgoing

  /** Mark a buffer read up to its newest message (it is visible and scrolled to the bottom). */
  markRead(key: string): void {
    const b = this.state.buffers[key];
    if (!b) return;
    const newest = newestTime(b);
    if (!newest || newest.time <= b.marker) return;
    this.updateBuffer(key, (x) => setMarker(x, newest.time));
    this.env.storage.setItem(K.read + key, String(newest.time));
    if (b.kind !== 'server' && this.connected && this.state.account && this.has('draft/read-marker')) this.sendMarker(key);
  }

  /** MARKREAD at most every MARK_EVERY ms per buffer (a busy room would flood otherwise). */
  private sendMarker(key: string): void {
    if (this.markTimers.has(key)) return;
    const wait = (this.lastMarkSent.get(key) ?? -Infinity) + MARK_EVERY - this.env.now();
    const send = () => {
      this.markTimers.delete(key);
      const b = this.state.buffers[key];
      const newest = b && newestTime(b);
      if (!b || !newest || !this.connected) return;
      this.lastMarkSent.set(key, this.env.now());
      this.sendRaw({ command: 'MARKREAD', params: [b.name, 'timestamp=' + (newest.tag ?? isoTime(newest.time))] });
    };
    if (wait <= 0) send();
    else this.markTimers.set(key, this.env.setTimeout(send, wait));
  }

  /** Send typing notifications (call on every input change). */
  typing(key: string, text: string): void {
    const b = this.state.buffers[key];
    if (!b || b.kind === 'server' || !this.connected || !this.has('message-tags')) return;
    if (b.kind === 'channel' && !b.joined) return;
    const now = this.env.now();
    const last = this.lastTypingSent.get(key) ?? 0;
    if (text && !text.startsWith('/')) {
      if (now - last >= TYPING_SEND_EVERY) {
        this.lastTypingSent.set(key, now);
        this.sendRaw({ tags: { '+typing': 'active' }, command: 'TAGMSG', params: [b.name] });
      }
    } else if (last) {
      this.lastTypingSent.delete(key);
      this.sendRaw({ tags: { '+typing': 'done' }, command: 'TAGMSG', params: [b.name] });
    }
  }

  private typingDone(key: string): void {
    const b = this.state.buffers[key];
    if (!b || !this.lastTypingSent.has(key)) return;
    this.lastTypingSent.delete(key);
    this.sendRaw({ tags: { '+typing': 'done' }, command: 'TAGMSG', params: [b.name] });
  }

  react(key: string, msgid: string, emoji: string): void {
    const b = this.state.buffers[key];
    if (!b || !this.connected || !this.has('message-tags')) return;
    const mine = (b.reactions[msgid] ?? []).find((r) => r.emoji === emoji)?.nicks.some((n) => this.isMe(n));
    const tags: Tags = mine ? { '+draft/unreact': emoji, '+draft/reply': msgid } : { '+draft/react': emoji, '+draft/reply': msgid };
    this.sendRaw({ tags, command: 'TAGMSG', params: [b.name] });
    if (!this.has('echo-message')) this.updateBuffer(key, (x) => react(x, msgid, emoji, this.state.nick, !mine));
  }

  redact(key: string, msgid: string, reason = ''): void {
    const b = this.state.buffers[key];
    if (!b || !this.connected) return;
    this.sendRaw({ command: 'REDACT', params: reason ? [b.name, msgid, reason] : [b.name, msgid] });
  }

  setTopic(key: string, topic: string): void {
    const b = this.state.buffers[key];
    if (!b || b.kind !== 'channel') return;
    this.sendRaw({ command: 'TOPIC', params: [b.name, topic] });
  }

  listRooms(): void {
    this.set({ rooms: { loading: true, list: [] } });
    this.sendRaw({ command: 'LIST', params: [] });
  }

  registerAccount(password: string, remember: boolean): void {
    this.password = password;
    this.rememberPassword = remember;
    this.set({ register: undefined });
    this.sendRaw({ command: 'REGISTER', params: ['*', '*', password] });
  }

  clearRegisterResult(): void {
    this.set({ register: undefined });
  }

  /** Longest text that fits in one PRIVMSG line to this target (bytes), leaving room for our prefix. */
  private maxTextBytes(target: string, action: boolean): number {
    const prefix = 1 + utf8Length(this.state.nick) + 1 + 18 + 1 + 64 + 1; // ":nick!~user@host "
    const fixed = 'PRIVMSG '.length + utf8Length(target) + 2 + 2 + (action ? 9 : 0);
    return Math.max(64, 512 - prefix - fixed - 8);
  }

  /**
   * Say text in a buffer (not a command). Several lines go as one draft/multiline batch when the
   * server allows it, else as one PRIVMSG each; long lines are split.
   */
  say(key: string, text: string, opts: { action?: boolean; replyTo?: string; notice?: boolean } = {}): boolean {
    const b = this.state.buffers[key];
    if (!b || b.kind === 'server') {
      this.notice(key, { kind: 'error', text: '', i18n: { key: 'notInRoom', args: {} } });
      return false;
    }
    if (!this.connected) {
      this.notice(key, { kind: 'error', text: '', i18n: { key: 'notConnected', args: {} } });
      return false;
    }
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
    while (lines.length && !lines[0].trim()) lines.shift();
    if (!lines.length) return false;
    this.typingDone(key);
    const target = b.name;
    const command = opts.notice ? 'NOTICE' : 'PRIVMSG';
    const max = this.maxTextBytes(target, !!opts.action);
    const wrap = (s: string) => (opts.action ? ctcp('ACTION', s) : s);
    const baseTags: Tags = {};
    if (opts.replyTo && this.has('message-tags')) baseTags['+draft/reply'] = opts.replyTo;
    const echo = this.has('echo-message');
    const labels = this.has('labeled-response');
    const ml = this.capLs.get('draft/multiline');
    const mlOn = this.has('draft/multiline') && this.has('batch') && ml !== undefined;
    const limits = parseCapValue(ml ?? '');
    const maxLines = Number(limits['max-lines']) || 0;
    const maxBytes = Number(limits['max-bytes']) || 0;
    const totalBytes = utf8Length(lines.join('\n'));
    const pieces = lines.map((l) => splitByBytes(l, max));
    const pieceCount = pieces.reduce((n, p) => n + p.length, 0);

    const pending = (label: string | undefined, body: string, replyTo?: string) => {
      const msg: ChatMessage = {
        id: this.localId(),
        label,
        time: this.env.now(),
        kind: opts.action ? 'action' : opts.notice ? 'notice' : 'privmsg',
        nick: this.state.nick,
        text: body,
        replyTo,
        self: true,
        pending: !!label,
      };
      if (label) this.pendingSends.set(label, { key });
      this.updateBuffer(key, (x) => addMessage(x, msg));
    };

    if (pieceCount > 1 && mlOn && !opts.action && (!maxLines || pieceCount <= maxLines) && (!maxBytes || totalBytes <= maxBytes)) {
      const ref = 'ml' + ++this.labelSeq;
      const open: Tags = { ...baseTags };
      const label = echo && labels ? this.nextLabel() : undefined;
      if (label) open.label = label;
      this.sendRaw({ tags: open, command: 'BATCH', params: ['+' + ref, 'draft/multiline', target] });
      for (const parts of pieces) {
        parts.forEach((part, i) => {
          const tags: Tags = { batch: ref };
          if (i > 0) tags['draft/multiline-concat'] = '';
          this.sendRaw({ tags, command, params: [target, part] });
        });
      }
      this.sendRaw({ command: 'BATCH', params: ['-' + ref] });
      if (label || !echo) pending(label, lines.join('\n'), opts.replyTo);
      return true;
    }
    let first = true;
    for (const parts of pieces) {
      for (const part of parts) {
        if (!part) continue;
        const tags: Tags = first ? { ...baseTags } : {};
        const label = echo && labels ? this.nextLabel() : undefined;
        if (label) tags.label = label;
        this.sendRaw({ tags, command, params: [target, wrap(part)] });
        if (label || !echo) pending(label, part, first ? opts.replyTo : undefined);
        first = false;
      }
    }
    return true;
  }

  /** A line typed in the input: a /command or text to say. Returns false when nothing was done. */
  input(key: string, line: string, replyTo?: string): { ok: boolean; help?: boolean } {
    if (!line.startsWith('/') || line.startsWith('//')) {
      const text = line.startsWith('//') ? line.slice(1) : line;
      return { ok: this.say(key, text, { replyTo }) };
    }
    const firstLine = line.split('\n')[0];
    const sp = firstLine.indexOf(' ');
    const cmd = (sp < 0 ? firstLine.slice(1) : firstLine.slice(1, sp)).toLowerCase();
    const rest = sp < 0 ? '' : line.slice(sp + 1);
    const args = rest.trim().split(/\s+/).filter(Boolean);
    const b = this.state.buffers[key];
    const needConn = () => {
      if (this.connected) return true;
      this.notice(key, { kind: 'error', text: '', i18n: { key: 'notConnected', args: {} } });
      return false;
    };
    switch (cmd) {
      case 'join':
      case 'j':
        if (!args[0]) return this.usage(key, '/join #room');
        if (!needConn()) return { ok: false };
        this.join(args[0], args[1]);
        return { ok: true };
      case 'part':
      case 'leave': {
        let target = key;
        let reason = rest.trim();
        if (args[0] && this.isChannel(args[0])) {
          target = bufferKey(args[0]);
          reason = rest.trim().slice(args[0].length).trim();
        }
        if (!this.state.buffers[target] || target === SERVER_KEY) return this.usage(key, '/part [#room] [reason]');
        this.part(target, reason);
        return { ok: true };
      }
      case 'close':
        this.part(key);
        return { ok: true };
      case 'msg':
      case 'query':
      case 'q': {
        if (!args[0]) return this.usage(key, cmd === 'msg' ? '/msg nick text' : '/query nick');
        const nick = args[0];
        const text = rest.trim().slice(nick.length).replace(/^ /, '');
        if (this.isChannel(nick)) {
          if (text) {
            const k = bufferKey(nick);
            if (this.state.buffers[k]) return { ok: this.say(k, text) };
            if (!needConn()) return { ok: false };
            this.sendRaw({ command: 'PRIVMSG', params: [nick, text] });
            return { ok: true };
          }
          this.join(nick);
          return { ok: true };
        }
        this.openQuery(nick);
        if (text) return { ok: this.say(bufferKey(nick), text) };
        return { ok: true };
      }
      case 'me':
        return { ok: this.say(key, rest, { action: true }) };
      case 'notice': {
        if (args.length < 2) return this.usage(key, '/notice target text');
        if (!needConn()) return { ok: false };
        this.sendRaw({ command: 'NOTICE', params: [args[0], rest.trim().slice(args[0].length).trim()] });
        return { ok: true };
      }
      case 'nick':
        if (!args[0]) return this.usage(key, '/nick newnick');
        if (!needConn()) return { ok: false };
        this.sendRaw({ command: 'NICK', params: [args[0]] });
        return { ok: true };
      case 'topic':
        if (!b || b.kind !== 'channel') return this.usage(key, '/topic text');
        if (!needConn()) return { ok: false };
        if (rest.trim()) this.setTopic(key, rest.trim());
        else this.sendRaw({ command: 'TOPIC', params: [b.name] });
        return { ok: true };
      case 'quit':
      case 'disconnect':
        this.quit(rest.trim());
        return { ok: true };
      case 'whois':
        if (!args[0]) return this.usage(key, '/whois nick');
        if (!needConn()) return { ok: false };
        this.sendRaw({ command: 'WHOIS', params: [args[0]] });
        return { ok: true };
      case 'away':
        if (!needConn()) return { ok: false };
        this.sendRaw({ command: 'AWAY', params: rest.trim() ? [rest.trim()] : [] });
        return { ok: true };
      case 'back':
        if (!needConn()) return { ok: false };
        this.sendRaw({ command: 'AWAY', params: [] });
        return { ok: true };
      case 'list':
        if (!needConn()) return { ok: false };
        this.listRooms();
        return { ok: true, help: false };
      case 'quote':
      case 'raw':
        if (!rest.trim()) return this.usage(key, '/quote RAW IRC LINE');
        if (!needConn()) return { ok: false };
        if (this.sock) this.sock.send(rest.replace(/[\r\n\0]+/g, ' ').trim());
        return { ok: true };
      case 'help':
      case 'h':
      case '?':
        return { ok: true, help: true };
      default:
        this.notice(key, { kind: 'error', text: '', i18n: { key: 'unknownCommand', args: { command: '/' + cmd } } });
        return { ok: false };
    }
  }

  private usage(key: string, usage: string): { ok: boolean } {
    this.notice(key, { kind: 'error', text: '', i18n: { key: 'usage', args: { usage } } });
    return { ok: false };
  }
}

function userName(nick: string): string {
  const ascii = nick.replace(/[^A-Za-z0-9_-]/g, '');
  return (ascii || 'user').slice(0, 16);
}

function sys(id: string, time: number, kind: ChatMessage['kind'], nick: string, args: Record<string, string>, msgid?: string): ChatMessage {
  return { id: msgid ?? id, msgid, time, kind, nick, text: '', i18n: { key: kind, args } };
}

/** Join the lines of a draft/multiline batch into one message carrying the opener's tags. */
export function combineMultiline(b: Batch): Message | null {
  const target = b.params[0] ?? '';
  let text = '';
  let first: Message | null = null;
  for (const line of b.lines) {
    if (line.command !== 'PRIVMSG' && line.command !== 'NOTICE') continue;
    const part = line.params[1] ?? '';
    if (!first) {
      first = line;
      text = part;
    } else if (line.tags['draft/multiline-concat'] !== undefined) {
      text += part;
    } else {
      text += '\n' + part;
    }
  }
  if (!first) return null;
  const tags: Tags = { ...first.tags, ...b.tags };
  delete tags.batch;
  if (b.label) tags.label = b.label;
  if (b.tags.batch) tags.batch = b.tags.batch;
  return { tags, source: first.source, command: first.command, params: [target, text] };
}
