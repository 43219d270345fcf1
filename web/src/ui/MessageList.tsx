import { Component } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { AppBuffer, ChatMessage, Reaction } from '../store';
import { findMessage } from '../store';
import { plainText } from '../render';
import { casefold } from '../irc';
import { noticeKey, T, Key } from '../i18n';
import { useApp, cx } from './context';
import { RichText, Nick, Template, Label } from './Text';
import { Icon } from './Icons';

export const EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];

export interface ReplyTarget {
  msgid: string;
  nick: string;
  text: string;
}

function pad(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

export function hhmm(t: number): string {
  const d = new Date(t);
  return pad(d.getHours()) + ':' + pad(d.getMinutes());
}

function dayKey(t: number): string {
  const d = new Date(t);
  return d.getFullYear() + '-' + d.getMonth() + '-' + d.getDate();
}

function dayLabel(t: number, tr: T, lang: string): string {
  const now = new Date();
  const d = new Date(t);
  const today = dayKey(now.getTime());
  const y = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1).getTime();
  if (dayKey(t) === today) return tr('today');
  if (dayKey(t) === dayKey(y)) return tr('yesterday');
  return d.toLocaleDateString(lang === 'zh' ? 'zh-CN' : 'en', { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

function fullDate(t: number, lang: string): string {
  return new Date(t).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en', {
    weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

const SYSTEM_KINDS = new Set(['join', 'part', 'quit', 'nick', 'kick', 'topic', 'mode', 'info', 'error']);

interface RowProps {
  m: ChatMessage;
  reactions?: Reaction[];
  quoted?: ChatMessage | null;
  quoteMissing?: boolean;
  me: string;
  t: T;
  lang: string;
  canAct: boolean;
  onReply: (m: ChatMessage) => void;
  onReact: (m: ChatMessage, emoji: string) => void;
  onDelete: (m: ChatMessage) => void;
  onJump: (msgid: string) => void;
}

/** One message. Re-renders only when its own data changes. */
class Row extends Component<RowProps, { picker: boolean }> {
  state = { picker: false };
  shouldComponentUpdate(next: RowProps, nextState: { picker: boolean }): boolean {
    const p = this.props;
    return (
      next.m !== p.m || next.reactions !== p.reactions || next.quoted !== p.quoted || next.t !== p.t ||
      next.me !== p.me || next.canAct !== p.canAct || nextState.picker !== this.state.picker
    );
  }
  render() {
    const { m, t, lang, reactions, quoted, quoteMissing, me, canAct } = this.props;
    const system = SYSTEM_KINDS.has(m.kind);
    const time = (
      <time class="ts" dateTime={new Date(m.time).toISOString()} title={fullDate(m.time, lang)}>
        {hhmm(m.time)}
      </time>
    );
    if (system) {
      let body;
      if (m.i18n) {
        const key = noticeKey(m.i18n.key, m.i18n.args);
        body = <Template template={t(key as Key)} args={m.i18n.args} nickArgs={['nick', 'old', 'new', 'by']} />;
      } else {
        body = <RichText text={m.text} />;
      }
      return (
        <div class={cx('msg', 'sys', 'k-' + m.kind)} id={'msg-' + m.id} data-kind={m.kind}>
          {time}
          <span class="sysmark" aria-hidden="true">{m.kind === 'error' ? '!' : '•'}</span>
          <span class="text">{body}</span>
        </div>
      );
    }
    const own = m.self || casefold(m.nick) === casefold(me);
    const hasId = !!m.msgid;
    return (
      <div
        class={cx('msg', 'k-' + m.kind, own && 'self', m.highlight && 'hl', m.pending && 'pending', m.failed && 'failed')}
        id={'msg-' + m.id}
        data-msgid={m.msgid}
        data-kind={m.kind}
      >
        {time}
        <div class="content">
          {m.replyTo && (
            <button
              type="button"
              class="quote"
              onClick={() => m.replyTo && this.props.onJump(m.replyTo)}
              aria-label={quoted ? t('replyTo', { nick: quoted.nick }) : t('originalMissing')}
            >
              <span class="quote-arrow" aria-hidden="true">↩</span>
              {quoted ? (
                <>
                  <Nick nick={quoted.nick} />
                  <span class="quote-text">{plainText(quoted.text, 200)}</span>
                </>
              ) : (
                <span class="quote-text">{quoteMissing ? t('originalMissing') : ''}</span>
              )}
            </button>
          )}
          <div class="line">
            {m.kind === 'action' ? (
              <span class="action">
                <span class="star" aria-hidden="true">* </span>
                <Nick nick={m.nick} /> <RichText text={m.text} />
              </span>
            ) : (
              <>
                <span class="from">
                  {m.kind === 'notice' ? '-' : ''}
                  <Nick nick={m.nick} />
                  {m.kind === 'notice' ? '-' : ''}
                  <span class="colon">: </span>
                </span>
                <span class="text">
                  <RichText text={m.text} />
                </span>
              </>
            )}
            {m.pending && <span class="state">{t('sending')}</span>}
            {m.failed && <span class="state err">{t('notSent')}</span>}
          </div>
          {reactions && reactions.length > 0 && (
            <div class="reactions">
              {reactions.map((r) => {
                const mine = r.nicks.some((n) => casefold(n) === casefold(me));
                const who = t('reactedBy', { nicks: r.nicks.map((n) => plainText(n, 40)).join(', '), emoji: plainText(r.emoji, 16) });
                return (
                  <button
                    type="button"
                    class={cx('reaction', mine && 'mine')}
                    title={who}
                    aria-label={who}
                    aria-pressed={mine}
                    disabled={!canAct}
                    onClick={() => this.props.onReact(m, r.emoji)}
                  >
                    <span class="emoji">{plainText(r.emoji, 16)}</span>
                    <span class="count">{r.nicks.length}</span>
                  </button>
                );
              })}
            </div>
          )}
        </div>
        {hasId && canAct && (
          <div class="actions" role="toolbar" aria-label={t('moreActions')}>
            <button type="button" class="act" title={t('reply')} aria-label={t('reply')} onClick={() => this.props.onReply(m)}>
              <Icon name="reply" size={16} />
            </button>
            <button
              type="button"
              class="act"
              title={t('react')}
              aria-label={t('react')}
              aria-expanded={this.state.picker}
              onClick={() => this.setState({ picker: !this.state.picker })}
            >
              <Icon name="smile" size={16} />
            </button>
            {own && (
              <button type="button" class="act danger" title={t('delete')} aria-label={t('delete')} onClick={() => this.props.onDelete(m)}>
                <Icon name="trash" size={16} />
              </button>
            )}
            {this.state.picker && (
              <div class="emoji-picker" role="group" aria-label={t('react')}>
                {EMOJI.map((e) => (
                  <button
                    type="button"
                    class="emoji-btn"
                    aria-label={t('reactWith', { emoji: e })}
                    title={t('reactWith', { emoji: e })}
                    onClick={() => {
                      this.setState({ picker: false });
                      this.props.onReact(m, e);
                    }}
                    onKeyDown={(ev) => {
                      if (ev.key === 'Escape') {
                        ev.stopPropagation();
                        this.setState({ picker: false });
                      }
                    }}
                  >
                    {e}
                  </button>
                ))}
              </div>
            )}
          </div>
        )}
      </div>
    );
  }
}

interface ListProps {
  buffer: AppBuffer;
  active: boolean;
  onReply: (r: ReplyTarget) => void;
}

export function MessageList({ buffer, onReply }: ListProps) {
  const { client, t, lang } = useApp();
  const ref = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const last = useRef<{ key: string; first?: string; lastId?: string; height: number; top: number }>({ key: '', height: 0, top: 0 });
  const [unseen, setUnseen] = useState(false);
  const [flash, setFlash] = useState<string | null>(null);
  const msgs = buffer.messages;
  const me = client.state.nick;
  const canAct = client.connected && (buffer.kind !== 'channel' || buffer.joined);

  const visible = () => document.visibilityState === 'visible' && document.hasFocus();
  const markIfRead = () => {
    if (atBottom.current && visible()) client.markRead(buffer.key);
  };

  const checkBottom = () => {
    const el = ref.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    last.current.top = el.scrollTop;
    if (atBottom.current) {
      setUnseen(false);
      markIfRead();
    }
  };

  const maybeLoadOlder = () => {
    const el = ref.current;
    if (!el) return;
    if (el.scrollTop < 120 && buffer.history === 'idle') client.loadOlder(buffer.key);
  };

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const prev = last.current;
    const first = msgs[0]?.id;
    const lastId = msgs[msgs.length - 1]?.id;
    if (prev.key !== buffer.key) {
      el.scrollTop = el.scrollHeight;
      atBottom.current = true;
      setUnseen(false);
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    } else if (first !== prev.first && prev.first !== undefined && prev.height) {
      // Older messages were put above: keep what the reader was looking at in place.
      el.scrollTop = prev.top + (el.scrollHeight - prev.height);
    }
    if (prev.key === buffer.key && lastId !== prev.lastId && !atBottom.current && prev.lastId !== undefined) setUnseen(true);
    last.current = { key: buffer.key, first, lastId, height: el.scrollHeight, top: el.scrollTop };
    if (atBottom.current) markIfRead();
    // Not enough to scroll: fetch more right away.
    if (el.scrollHeight <= el.clientHeight + 120 && buffer.history === 'idle') client.loadOlder(buffer.key);
  });

  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
      last.current.height = el.scrollHeight;
      last.current.top = el.scrollTop;
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const onFocus = () => markIfRead();
    window.addEventListener('focus', onFocus);
    document.addEventListener('visibilitychange', onFocus);
    return () => {
      window.removeEventListener('focus', onFocus);
      document.removeEventListener('visibilitychange', onFocus);
    };
  }, [buffer.key]);

  const jump = (msgid: string) => {
    const target = findMessage(buffer, msgid);
    if (!target) return;
    const el = document.getElementById('msg-' + target.id);
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    setFlash(target.id);
    setTimeout(() => setFlash(null), 1600);
    checkBottom();
  };

  useEffect(() => {
    if (!flash) return;
    const el = document.getElementById('msg-' + flash);
    el?.classList.add('flash');
    return () => el?.classList.remove('flash');
  }, [flash]);

  const rows: preact.ComponentChild[] = [];
  let prevDay = '';
  if (buffer.kind !== 'server') {
    if (buffer.history === 'loading') rows.push(<div class="hist-state" key="hist">{t('loadingOlder')}</div>);
    else if (buffer.history === 'done' && msgs.length) rows.push(<div class="hist-state" key="hist">{t('beginning', { name: buffer.name })}</div>);
  }
  for (const m of msgs) {
    const dk = dayKey(m.time);
    if (dk !== prevDay) {
      rows.push(
        <div class="day" role="separator" key={'day-' + dk + '-' + m.id}>
          <span>{dayLabel(m.time, t, lang)}</span>
        </div>,
      );
      prevDay = dk;
    }
    const quoted = m.replyTo ? findMessage(buffer, m.replyTo) ?? null : null;
    rows.push(
      <Row
        key={m.id}
        m={m}
        reactions={m.msgid ? buffer.reactions[m.msgid] : undefined}
        quoted={quoted}
        quoteMissing={!!m.replyTo && !quoted}
        me={me}
        t={t}
        lang={lang}
        canAct={canAct}
        onReply={(x) => onReply({ msgid: x.msgid!, nick: x.nick, text: x.text })}
        onReact={(x, e) => x.msgid && client.react(buffer.key, x.msgid, e)}
        onDelete={(x) => {
          if (x.msgid && window.confirm(t('deleteConfirm'))) client.redact(buffer.key, x.msgid);
        }}
        onJump={jump}
      />,
    );
  }

  return (
    <div class="log-wrap">
      <div
        class="log"
        ref={ref}
        role="log"
        aria-live="polite"
        aria-relevant="additions"
        aria-label={t('messages')}
        tabIndex={0}
        onScroll={() => {
          checkBottom();
          maybeLoadOlder();
        }}
      >
        {rows}
      </div>
      {unseen && (
        <button
          type="button"
          class="new-messages"
          onClick={() => {
            const el = ref.current;
            if (el) el.scrollTop = el.scrollHeight;
            checkBottom();
          }}
        >
          {t('newMessages')}
        </button>
      )}
    </div>
  );
}

export function TypingLine({ buffer }: { buffer: AppBuffer }) {
  const { t } = useApp();
  const now = Date.now();
  const nicks = Object.values(buffer.typing).filter((x) => x.until > now).map((x) => x.nick);
  // re-render while someone is typing so that the line expires on time
  useTickWhile(nicks.length > 0);
  let text: preact.ComponentChild = null;
  if (nicks.length === 1) text = <Template template={t('typing1')} args={{ a: nicks[0] }} nickArgs={['a']} />;
  else if (nicks.length === 2) text = <Template template={t('typing2')} args={{ a: nicks[0], b: nicks[1] }} nickArgs={['a', 'b']} />;
  else if (nicks.length > 2) text = t('typingMany');
  return (
    <div class="typing" aria-live="polite">
      {text}
    </div>
  );
}

function useTickWhile(active: boolean) {
  const [, setN] = useState(0);
  useEffect(() => {
    if (!active) return;
    const h = setInterval(() => setN((x) => x + 1), 1000);
    return () => clearInterval(h);
  }, [active]);
}

export { Label };
