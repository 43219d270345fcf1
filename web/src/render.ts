// User text → safe segments. Pure: everything returned is data that the UI renders as text
// nodes (never as HTML). Links are produced only for an allow-list of schemes.

export interface Style {
  bold?: boolean;
  italic?: boolean;
  underline?: boolean;
  strike?: boolean;
  mono?: boolean;
  /** IRC colour 0–15 (shown through CSS classes). */
  fg?: number;
  bg?: number;
}

export type Segment =
  | { type: 'text'; text: string; style?: Style }
  | { type: 'link'; text: string; href: string; style?: Style };

/** Bidi embedding/override/isolate controls: U+202A–U+202E and U+2066–U+2069. */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
/** More than MAX_MARKS combining marks in a row are dropped. */
export const MAX_MARKS = 3;
const MARK_RUNS = /(\p{M}{3})\p{M}+/gu;
/** Control characters other than tab and newline (C0, DEL, C1); IRC formatting is handled before this. */
const CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;
/** Longest text rendered for one message (code units); the rest is cut with an ellipsis. */
export const MAX_RENDER = 8192;

/** Neutralise text from other users: no bidi controls, no control characters, clamped mark runs, bounded size. */
export function cleanText(s: string, max = MAX_RENDER): string {
  let t = s;
  if (t.length > max * 2) t = t.slice(0, max * 2);
  t = t.replace(BIDI_CONTROLS, '').replace(CONTROLS, '').replace(MARK_RUNS, '$1');
  if (t.length > max) t = t.slice(0, max) + '…';
  return t;
}

/** For nicks, channel names and other short labels. */
export function cleanLabel(s: string, max = 64): string {
  return cleanText(s.replace(/[\r\n\t]+/g, ' '), max);
}

const ALLOWED_SCHEMES = new Set(['http:', 'https:', 'mailto:', 'irc:', 'ircs:']);

/** The href for a link text if (and only if) it is an allowed, well-formed URL. */
export function safeHref(raw: string): string | null {
  let s = raw;
  if (/^www\./i.test(s)) s = 'https://' + s;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return null;
  }
  if (!ALLOWED_SCHEMES.has(u.protocol.toLowerCase())) return null;
  if ((u.protocol === 'http:' || u.protocol === 'https:') && !u.hostname) return null;
  return u.href;
}

// Candidate links: scheme URLs of the allowed kinds, mailto:, and bare www. hosts.
const LINK_RE = /\b(?:(?:https?|ircs?):\/\/[^\s<>"'`\u3000-\u303F\uFF01-\uFF5E]+|mailto:[^\s<>"'`]+@[^\s<>"'`]+|www\.[^\s<>"'`\u3000-\u303F\uFF01-\uFF5E]+)/giu;

const PAIRS: Record<string, string> = { ')': '(', ']': '[', '}': '{', '>': '<' };

/** Drop trailing punctuation that is almost never part of a URL, and unbalanced closing brackets. */
export function trimLink(url: string): string {
  let u = url;
  for (;;) {
    const last = u[u.length - 1];
    if (!last) return u;
    if (/[.,;:!?'"*]/.test(last)) {
      u = u.slice(0, -1);
      continue;
    }
    const open = PAIRS[last];
    if (open) {
      const opens = u.split(open).length - 1;
      const closes = u.split(last).length - 1;
      if (closes > opens) {
        u = u.slice(0, -1);
        continue;
      }
    }
    return u;
  }
}

/** Find the links in plain text. */
export function linkify(text: string, style?: Style): Segment[] {
  const out: Segment[] = [];
  let pos = 0;
  LINK_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = LINK_RE.exec(text))) {
    const raw = trimLink(m[0]);
    const href = safeHref(raw);
    if (!href || raw.length < 5) continue;
    if (m.index > pos) out.push(seg(text.slice(pos, m.index), style));
    out.push(style ? { type: 'link', text: raw, href, style } : { type: 'link', text: raw, href });
    pos = m.index + raw.length;
    LINK_RE.lastIndex = pos;
  }
  if (pos < text.length) out.push(seg(text.slice(pos), style));
  return out;
}

function seg(text: string, style?: Style): Segment {
  return style ? { type: 'text', text, style } : { type: 'text', text };
}

function compact(s: Style): Style {
  const out: Style = {};
  for (const [k, v] of Object.entries(s)) if (v !== undefined && v !== false) (out as Record<string, unknown>)[k] = v;
  return out;
}

function styleKey(s: Style): boolean {
  return !!(s.bold || s.italic || s.underline || s.strike || s.mono || s.fg !== undefined || s.bg !== undefined);
}

/**
 * Parse mIRC formatting (bold \x02, colour \x03, hex colour \x04 (dropped), reset \x0F, monospace \x11,
 * reverse \x16 (dropped), italic \x1D, strike \x1E, underline \x1F) into styled runs of raw text.
 */
export function parseFormatting(text: string): { text: string; style?: Style }[] {
  const runs: { text: string; style?: Style }[] = [];
  let style: Style = {};
  let cur = '';
  const flush = () => {
    if (cur) runs.push(styleKey(style) ? { text: cur, style: compact(style) } : { text: cur });
    cur = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    switch (c) {
      case '\x02': flush(); style = { ...style, bold: !style.bold }; break;
      case '\x1D': flush(); style = { ...style, italic: !style.italic }; break;
      case '\x1F': flush(); style = { ...style, underline: !style.underline }; break;
      case '\x1E': flush(); style = { ...style, strike: !style.strike }; break;
      case '\x11': flush(); style = { ...style, mono: !style.mono }; break;
      case '\x16': break;
      case '\x0F': flush(); style = {}; break;
      case '\x03': {
        flush();
        const m = /^(\d{1,2})(?:,(\d{1,2}))?/.exec(text.slice(i + 1));
        if (!m) {
          const { fg: _f, bg: _b, ...rest } = style;
          style = rest;
        } else {
          i += m[0].length;
          const fg = Number(m[1]);
          style = { ...style, fg: fg < 16 ? fg : undefined };
          if (m[2] !== undefined) {
            const bg = Number(m[2]);
            style = { ...style, bg: bg < 16 ? bg : undefined };
          }
        }
        break;
      }
      case '\x04': {
        flush();
        const m = /^[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?/.exec(text.slice(i + 1));
        if (m) i += m[0].length;
        break;
      }
      default:
        cur += c;
    }
  }
  flush();
  return runs;
}

/** The whole pipeline for a message body: formatting → cleaning → links. */
export function renderText(text: string): Segment[] {
  const out: Segment[] = [];
  let budget = MAX_RENDER;
  for (const run of parseFormatting(text)) {
    if (budget <= 0) break;
    const clean = cleanText(run.text, budget);
    budget -= clean.length;
    if (!clean) continue;
    out.push(...linkify(clean, run.style));
  }
  return out;
}

/** Strip formatting and dangerous characters: for previews, quotes, titles and notifications. */
export function plainText(text: string, max = MAX_RENDER): string {
  return cleanText(parseFormatting(text).map((r) => r.text).join(''), max);
}

/** A stable colour index 0–15 for a nick (FNV-1a over its folded form). */
export function nickColor(nick: string): number {
  const s = nick.normalize('NFKC').toLowerCase();
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 16;
}

/** Does the text mention this nick as a word? */
export function mentions(text: string, nick: string): boolean {
  if (!nick) return false;
  const t = plainText(text).toLowerCase();
  const n = nick.toLowerCase();
  let from = 0;
  for (;;) {
    const i = t.indexOf(n, from);
    if (i < 0) return false;
    const before = i === 0 ? '' : t[i - 1];
    const after = t[i + n.length] ?? '';
    const wordChar = /[\p{L}\p{N}_\-\[\]\\`^{}|]/u;
    if (!wordChar.test(before) && !wordChar.test(after)) return true;
    from = i + 1;
  }
}
