// Buffers, messages, members, reactions, read markers and unread counts. Pure: every function
// returns a new state (or the same object when nothing changed) and never mutates its input.

import { casefold } from './irc';

export type MsgKind =
  | 'privmsg'
  | 'notice'
  | 'action'
  | 'join'
  | 'part'
  | 'quit'
  | 'nick'
  | 'kick'
  | 'topic'
  | 'mode'
  | 'info'
  | 'error';

export interface ChatMessage {
  /** msgid when the server gave one, else a local id. */
  id: string;
  msgid?: string;
  /** labeled-response label of a message we sent and that has not come back yet. */
  label?: string;
  /** ms since the epoch (from the server-time tag when present). */
  time: number;
  /** The server's time tag as received (used for MARKREAD). */
  timeTag?: string;
  kind: MsgKind;
  nick: string;
  text: string;
  /** A UI-string key and its arguments, for system notices shown in the user's language. */
  i18n?: { key: string; args: Record<string, string> };
  replyTo?: string;
  self?: boolean;
  highlight?: boolean;
  pending?: boolean;
  failed?: boolean;
}

export interface Member {
  nick: string;
  /** Prefix characters, highest first, e.g. "@+". */
  prefixes: string;
  account?: string;
  realname?: string;
  away?: boolean;
}

export interface Reaction {
  emoji: string;
  nicks: string[];
}

export type BufferKind = 'server' | 'channel' | 'query';

export interface AppBuffer {
  key: string;
  name: string;
  kind: BufferKind;
  messages: ChatMessage[];
  members: Record<string, Member>;
  topic: string;
  topicBy?: string;
  topicTime?: number;
  joined: boolean;
  /** Read marker, ms since the epoch; messages newer than this are unread. */
  marker: number;
  /** Target msgid → reactions to it. */
  reactions: Record<string, Reaction[]>;
  /** Folded nick → { nick, expiry (ms) } of who is typing. */
  typing: Record<string, { nick: string; until: number }>;
  /** Older history: 'idle' (may be more), 'loading', 'done' (the beginning was reached). */
  history: 'idle' | 'loading' | 'done';
  /** msgids redacted here, so that a late history batch cannot bring them back. */
  redacted: Record<string, true>;
}

export const SERVER_KEY = ':server';
/** Most messages kept per buffer. */
export const MAX_MESSAGES = 4000;

export function bufferKey(name: string): string {
  return casefold(name);
}

export function newBuffer(name: string, kind: BufferKind, marker = 0): AppBuffer {
  return {
    key: kind === 'server' ? SERVER_KEY : bufferKey(name),
    name,
    kind,
    messages: [],
    members: {},
    topic: '',
    joined: kind !== 'channel',
    marker,
    reactions: {},
    typing: {},
    history: kind === 'server' ? 'done' : 'idle',
    redacted: {},
  };
}

export type Buffers = Record<string, AppBuffer>;

export function withBuffer(bufs: Buffers, b: AppBuffer): Buffers {
  if (bufs[b.key] === b) return bufs;
  return { ...bufs, [b.key]: b };
}

export function withoutBuffer(bufs: Buffers, key: string): Buffers {
  if (!(key in bufs)) return bufs;
  const next = { ...bufs };
  delete next[key];
  return next;
}

/** Index at which a message with this time goes (after every message with time <= t). */
function insertionIndex(msgs: ChatMessage[], t: number): number {
  let lo = 0;
  let hi = msgs.length;
  // fast path: appending
  if (hi === 0 || msgs[hi - 1].time <= t) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (msgs[mid].time <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Add one message. A message whose msgid is already there is ignored (echoes, history overlap);
 * a message carrying the label of a pending copy replaces that copy.
 */
export function addMessage(b: AppBuffer, m: ChatMessage): AppBuffer {
  return addMessages(b, [m]);
}

/**
 * Add many messages (a history batch, in chronological order) at once, without duplicates.
 * 'append' puts each after every message of the same time or older (live lines, LATEST, AFTER);
 * 'prepend' (BEFORE) keeps them before the oldest message we had, even when times are equal, so
 * that a page of older history never lands after what it precedes.
 */
export function addMessages(b: AppBuffer, list: ChatMessage[], where: 'append' | 'prepend' = 'append'): AppBuffer {
  let msgs = b.messages;
  let changed = false;
  const seen = new Set<string>();
  for (const m of msgs) if (m.msgid) seen.add(m.msgid);
  let ref = where === 'prepend' ? msgs.findIndex((m) => !!m.msgid) : -1;
  if (ref < 0) ref = msgs.length;
  let pos = 0;
  for (const m of list) {
    // Our labeled echo settles its pending copy even when the message itself is here already
    // (a history page asked for just before we sent it can bring it first).
    const pendingAt = m.label ? msgs.findIndex((x) => x.pending && x.label === m.label) : -1;
    if (pendingAt >= 0) {
      if (!changed) {
        msgs = msgs.slice();
        changed = true;
      }
      msgs.splice(pendingAt, 1);
      if (ref > pendingAt) ref--;
      if (pos > pendingAt) pos--;
    }
    if (m.msgid) {
      if (seen.has(m.msgid) || b.redacted[m.msgid]) continue;
      seen.add(m.msgid);
    }
    if (!changed) {
      msgs = msgs.slice();
      changed = true;
    }
    if (where === 'prepend') {
      let i = pos;
      while (i < ref && msgs[i].time <= m.time) i++;
      msgs.splice(i, 0, m);
      pos = i + 1;
      ref++;
    } else {
      msgs.splice(insertionIndex(msgs, m.time), 0, m);
    }
  }
  if (!changed) return b;
  if (where === 'append' && msgs.length > MAX_MESSAGES) {
    // Keep memory bounded: forget the oldest; scrolling up fetches them again.
    msgs.splice(0, msgs.length - MAX_MESSAGES);
    return { ...b, messages: msgs, history: b.history === 'done' ? 'idle' : b.history };
  }
  return { ...b, messages: msgs };
}

/** Mark a pending message (by label) as failed. */
export function failPending(b: AppBuffer, label: string): AppBuffer {
  const i = b.messages.findIndex((x) => x.pending && x.label === label);
  if (i < 0) return b;
  const msgs = b.messages.slice();
  msgs[i] = { ...msgs[i], pending: false, failed: true };
  return { ...b, messages: msgs };
}

/** Remove a message (REDACT), its reactions, or a reaction that has this msgid. */
export function removeMessage(b: AppBuffer, msgid: string): AppBuffer {
  const msgs = b.messages.filter((m) => m.msgid !== msgid);
  const reactions = { ...b.reactions };
  delete reactions[msgid];
  return { ...b, messages: msgs, reactions, redacted: { ...b.redacted, [msgid]: true } };
}

export function findMessage(b: AppBuffer, msgid: string): ChatMessage | undefined {
  for (let i = b.messages.length - 1; i >= 0; i--) if (b.messages[i].msgid === msgid) return b.messages[i];
  return undefined;
}

/** Add (or with add=false, remove) one nick's reaction to a message. Idempotent. */
export function react(b: AppBuffer, target: string, emoji: string, nick: string, add = true): AppBuffer {
  const list = b.reactions[target] ?? [];
  const fold = casefold(nick);
  const idx = list.findIndex((r) => r.emoji === emoji);
  const has = idx >= 0 && list[idx].nicks.some((n) => casefold(n) === fold);
  if (add === has) return b;
  let next: Reaction[];
  if (add) {
    if (idx >= 0) {
      next = list.slice();
      next[idx] = { emoji, nicks: [...list[idx].nicks, nick] };
    } else {
      next = [...list, { emoji, nicks: [nick] }];
    }
  } else {
    const nicks = list[idx].nicks.filter((n) => casefold(n) !== fold);
    next = list.slice();
    if (nicks.length) next[idx] = { emoji, nicks };
    else next.splice(idx, 1);
  }
  return { ...b, reactions: { ...b.reactions, [target]: next } };
}

/** Set the read marker (it only moves forward unless force is given). */
export function setMarker(b: AppBuffer, t: number, force = false): AppBuffer {
  if (!force && t <= b.marker) return b;
  if (t === b.marker) return b;
  return { ...b, marker: t };
}

function countable(m: ChatMessage): boolean {
  return (m.kind === 'privmsg' || m.kind === 'notice' || m.kind === 'action') && !m.self && !m.pending;
}

/** Messages from others newer than the read marker. */
export function unreadCount(b: AppBuffer): number {
  let n = 0;
  for (let i = b.messages.length - 1; i >= 0; i--) {
    const m = b.messages[i];
    if (m.time <= b.marker) break;
    if (countable(m)) n++;
  }
  return n;
}

/** Unread messages that mention you (every unread message of a DM counts). */
export function mentionCount(b: AppBuffer): number {
  let n = 0;
  for (let i = b.messages.length - 1; i >= 0; i--) {
    const m = b.messages[i];
    if (m.time <= b.marker) break;
    if (countable(m) && (m.highlight || b.kind === 'query')) n++;
  }
  return n;
}

/** Newest message that came from the server with a msgid (for CHATHISTORY AFTER). */
export function newestMsgid(b: AppBuffer): string | undefined {
  for (let i = b.messages.length - 1; i >= 0; i--) if (b.messages[i].msgid && !b.messages[i].pending) return b.messages[i].msgid;
  return undefined;
}

/** Oldest message with a msgid (for CHATHISTORY BEFORE). */
export function oldestMsgid(b: AppBuffer): string | undefined {
  for (const m of b.messages) if (m.msgid) return m.msgid;
  return undefined;
}

/** Newest message time with its server time tag (for MARKREAD). */
export function newestTime(b: AppBuffer): { time: number; tag?: string } | undefined {
  for (let i = b.messages.length - 1; i >= 0; i--) {
    const m = b.messages[i];
    if (!m.pending && !m.failed && m.msgid) return { time: m.time, tag: m.timeTag };
  }
  return undefined;
}

// ---- members ----

export function setMembers(b: AppBuffer, members: Member[]): AppBuffer {
  const rec: Record<string, Member> = {};
  for (const m of members) rec[casefold(m.nick)] = m;
  return { ...b, members: rec };
}

export function addMember(b: AppBuffer, m: Member): AppBuffer {
  return { ...b, members: { ...b.members, [casefold(m.nick)]: { ...b.members[casefold(m.nick)], ...m } } };
}

export function removeMember(b: AppBuffer, nick: string): AppBuffer {
  const k = casefold(nick);
  if (!(k in b.members)) return b;
  const members = { ...b.members };
  delete members[k];
  const typing = { ...b.typing };
  delete typing[k];
  return { ...b, members, typing };
}

export function hasMember(b: AppBuffer, nick: string): boolean {
  return casefold(nick) in b.members;
}

export function renameMember(b: AppBuffer, from: string, to: string): AppBuffer {
  const k = casefold(from);
  const m = b.members[k];
  if (!m) return b;
  const members = { ...b.members };
  delete members[k];
  members[casefold(to)] = { ...m, nick: to };
  return { ...b, members };
}

export function updateMember(b: AppBuffer, nick: string, patch: Partial<Member>): AppBuffer {
  const k = casefold(nick);
  const m = b.members[k];
  if (!m) return b;
  return { ...b, members: { ...b.members, [k]: { ...m, ...patch } } };
}

/** Add or remove a prefix character, keeping the order given by the server's PREFIX list. */
export function changePrefix(b: AppBuffer, nick: string, prefix: string, add: boolean, order = '@+'): AppBuffer {
  const k = casefold(nick);
  const m = b.members[k];
  if (!m) return b;
  let p = m.prefixes.replace(prefix, '');
  if (add) p += prefix;
  p = [...p].sort((x, y) => order.indexOf(x) - order.indexOf(y)).join('');
  return { ...b, members: { ...b.members, [k]: { ...m, prefixes: p } } };
}

/** Members sorted: operators, then voiced, then the rest; by name inside each group. */
export function sortedMembers(b: AppBuffer, order = '@+'): Member[] {
  const rank = (m: Member) => (m.prefixes ? order.indexOf(m.prefixes[0]) : order.length);
  return Object.values(b.members).sort((a, c) => {
    const d = rank(a) - rank(c);
    if (d) return d;
    const x = casefold(a.nick);
    const y = casefold(c.nick);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

// ---- typing ----

export function setTyping(b: AppBuffer, nick: string, state: string, until: number): AppBuffer {
  const k = casefold(nick);
  if (state === 'active' || state === 'paused') {
    return { ...b, typing: { ...b.typing, [k]: { nick, until } } };
  }
  if (!(k in b.typing)) return b;
  const typing = { ...b.typing };
  delete typing[k];
  return { ...b, typing };
}

export function typingNicks(b: AppBuffer, now: number): string[] {
  return Object.values(b.typing)
    .filter((t) => t.until > now)
    .map((t) => t.nick);
}

/** Sidebar order: the server buffer, channels, then DMs, each alphabetically. */
export function bufferOrder(bufs: Buffers): string[] {
  const rank = (b: AppBuffer) => (b.kind === 'server' ? 0 : b.kind === 'channel' ? 1 : 2);
  return Object.values(bufs)
    .sort((a, b) => rank(a) - rank(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((b) => b.key);
}
