// Rendering of user text: always as text nodes, links only through the scheme allow-list.

import { renderText, cleanLabel, nickColor, Segment, Style } from '../render';
import { cx } from './context';

function styleClass(s?: Style): string | undefined {
  if (!s) return undefined;
  return (
    cx(
      s.bold && 'f-b',
      s.italic && 'f-i',
      s.underline && 'f-u',
      s.strike && 'f-s',
      s.mono && 'f-m',
      s.fg !== undefined && 'fg' + s.fg,
      s.bg !== undefined && 'bg' + s.bg,
    ) || undefined
  );
}

function renderSegment(seg: Segment, i: number) {
  if (seg.type === 'link') {
    return (
      <a key={i} href={seg.href} target="_blank" rel="noopener noreferrer nofollow" class={styleClass(seg.style)}>
        {seg.text}
      </a>
    );
  }
  const c = styleClass(seg.style);
  return c ? (
    <span key={i} class={c}>
      {seg.text}
    </span>
  ) : (
    seg.text
  );
}

/** A message body or topic: formatting, links, bidi isolation, clamped marks. */
export function RichText({ text }: { text: string }) {
  return <bdi class="rich">{renderText(text).map(renderSegment)}</bdi>;
}

/** A nickname in its colour, isolated from the surrounding text direction. */
export function Nick({ nick, plain }: { nick: string; plain?: boolean }) {
  return <bdi class={plain ? 'nick' : cx('nick', 'nc' + nickColor(nick))}>{cleanLabel(nick)}</bdi>;
}

/** Any other short user-supplied label (room names, accounts). */
export function Label({ text }: { text: string }) {
  return <bdi>{cleanLabel(text)}</bdi>;
}

/** A translated template whose {placeholders} are user data: each is rendered as isolated text. */
export function Template({ template, args, nickArgs = [] }: { template: string; args: Record<string, string | number>; nickArgs?: string[] }) {
  const parts = template.split(/(\{\w+\})/);
  return (
    <>
      {parts.map((p, i) => {
        const m = /^\{(\w+)\}$/.exec(p);
        if (!m || !(m[1] in args)) return p;
        const v = String(args[m[1]]);
        if (nickArgs.includes(m[1])) return <Nick key={i} nick={v} />;
        return <bdi key={i}>{cleanLabel(v, 600)}</bdi>;
      })}
    </>
  );
}
