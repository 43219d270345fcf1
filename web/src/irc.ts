// IRC message parsing and serialisation (with IRCv3 message tags). Pure: no I/O.

export type Tags = Record<string, string>;

export interface Message {
  tags: Tags;
  /** The source without its leading colon, or undefined. */
  source?: string;
  /** The command as sent (numerics stay strings such as "001"). */
  command: string;
  params: string[];
}

export interface Source {
  nick: string;
  user: string;
  host: string;
}

const TAG_UNESCAPE: Record<string, string> = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };

/** IRCv3 tag value unescaping, one character at a time. */
export function unescapeTag(v: string): string {
  if (v.indexOf('\\') < 0) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '\\') {
      i++;
      if (i >= v.length) break; // a lone trailing backslash is dropped
      const n = v[i];
      out += TAG_UNESCAPE[n] ?? n;
    } else {
      out += c;
    }
  }
  return out;
}

/** IRCv3 tag value escaping. */
export function escapeTag(v: string): string {
  let out = '';
  for (const c of v) {
    switch (c) {
      case ';': out += '\\:'; break;
      case ' ': out += '\\s'; break;
      case '\\': out += '\\\\'; break;
      case '\r': out += '\\r'; break;
      case '\n': out += '\\n'; break;
      default: out += c;
    }
  }
  return out;
}

export function parseTags(s: string): Tags {
  const tags: Tags = {};
  for (const part of s.split(';')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) tags[part] = '';
    else tags[part.slice(0, eq)] = unescapeTag(part.slice(eq + 1));
  }
  return tags;
}

/** Parse one IRC line (a trailing CR/LF is ignored). Returns null for a line without a command. */
export function parse(line: string): Message | null {
  let s = line.replace(/[\r\n]+$/, '');
  let i = 0;
  const skipSpaces = () => {
    while (s[i] === ' ') i++;
  };
  const word = (): string => {
    const start = i;
    while (i < s.length && s[i] !== ' ') i++;
    return s.slice(start, i);
  };
  let tags: Tags = {};
  let source: string | undefined;
  skipSpaces();
  if (s[i] === '@') {
    i++;
    tags = parseTags(word());
    skipSpaces();
  }
  if (s[i] === ':') {
    i++;
    source = word();
    skipSpaces();
  }
  const command = word();
  if (!command) return null;
  const params: string[] = [];
  for (;;) {
    skipSpaces();
    if (i >= s.length) break;
    if (s[i] === ':') {
      params.push(s.slice(i + 1));
      break;
    }
    params.push(word());
  }
  return { tags, source, command, params };
}

/** Remove CR, LF and NUL so that nothing can split a frame into two IRC lines. */
export function stripLineBreaks(s: string): string {
  return s.replace(/[\r\n\0]+/g, ' ');
}

/** Serialise a message. Never produces CR, LF or NUL; the last parameter gets a colon when needed. */
export function serialize(m: { tags?: Tags; source?: string; command: string; params?: string[] }): string {
  let out = '';
  const tags = m.tags ?? {};
  const tagParts: string[] = [];
  for (const [k, v] of Object.entries(tags)) {
    const key = k.replace(/[\s;=\0]/g, '');
    if (!key) continue;
    tagParts.push(v === '' ? key : key + '=' + escapeTag(v));
  }
  if (tagParts.length) out += '@' + tagParts.join(';') + ' ';
  if (m.source) out += ':' + stripLineBreaks(m.source).replace(/ /g, '') + ' ';
  out += stripLineBreaks(m.command).replace(/ /g, '');
  const params = m.params ?? [];
  params.forEach((raw, idx) => {
    const p = stripLineBreaks(raw);
    const last = idx === params.length - 1;
    if (last && (p === '' || p.includes(' ') || p.startsWith(':'))) {
      out += ' :' + p;
    } else {
      // A middle parameter cannot hold spaces or start with a colon.
      out += ' ' + p.replace(/ /g, '_').replace(/^:/, '_');
    }
  });
  return out;
}

/** Split `nick!user@host` into its parts (missing parts are empty). */
export function parseSource(src: string | undefined): Source {
  if (!src) return { nick: '', user: '', host: '' };
  let nick = src;
  let user = '';
  let host = '';
  const at = nick.indexOf('@');
  if (at >= 0) {
    host = nick.slice(at + 1);
    nick = nick.slice(0, at);
  }
  const bang = nick.indexOf('!');
  if (bang >= 0) {
    user = nick.slice(bang + 1);
    nick = nick.slice(0, bang);
  }
  return { nick, user, host };
}

/** The server announces CASEMAPPING=rfc8265: compare under Unicode case folding after NFKC. */
export function casefold(s: string): string {
  return s.normalize('NFKC').toLowerCase().normalize('NFKC');
}

export function isChannel(target: string, chantypes = '#'): boolean {
  return target.length > 0 && chantypes.includes(target[0]);
}

export interface Ctcp {
  command: string;
  text: string;
}

/** Decode a CTCP message (`\x01ACTION waves\x01`); the closing \x01 is optional. */
export function parseCtcp(text: string): Ctcp | null {
  if (text.length < 2 || text[0] !== '\x01') return null;
  let body = text.slice(1);
  if (body.endsWith('\x01')) body = body.slice(0, -1);
  const sp = body.indexOf(' ');
  if (sp < 0) return { command: body.toUpperCase(), text: '' };
  return { command: body.slice(0, sp).toUpperCase(), text: body.slice(sp + 1) };
}

export function ctcp(command: string, text: string): string {
  return '\x01' + command + (text ? ' ' + text : '') + '\x01';
}

/** UTF-8 length of a string. */
export function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/** Split text into chunks of at most maxBytes UTF-8 bytes, at code point boundaries, preferring spaces. */
export function splitByBytes(text: string, maxBytes: number): string[] {
  if (utf8Length(text) <= maxBytes) return [text];
  const out: string[] = [];
  let cur = '';
  let curBytes = 0;
  let lastSpace = -1;
  for (const ch of text) {
    const b = utf8Length(ch);
    if (curBytes + b > maxBytes) {
      if (lastSpace > 0 && lastSpace > cur.length / 2) {
        out.push(cur.slice(0, lastSpace + 1));
        cur = cur.slice(lastSpace + 1);
        curBytes = utf8Length(cur);
      } else {
        out.push(cur);
        cur = '';
        curBytes = 0;
      }
      lastSpace = -1;
    }
    if (ch === ' ') lastSpace = cur.length;
    cur += ch;
    curBytes += b;
  }
  if (cur) out.push(cur);
  return out;
}

/** Parse a capability list `a b=c d` into a map. */
export function parseCaps(s: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of s.split(' ')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) m.set(part, '');
    else m.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return m;
}

/** Parse a cap value such as `max-bytes=4096,max-lines=32`. */
export function parseCapValue(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) out[part] = '';
    else out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** Base64 of a UTF-8 string (works in browsers and Node). */
export function base64Utf8(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
