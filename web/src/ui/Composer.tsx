import { useEffect, useRef, useState } from 'preact/hooks';
import type { AppBuffer } from '../store';
import { sortedMembers } from '../store';
import { casefold } from '../irc';
import { plainText } from '../render';
import { useApp } from './context';
import { Nick } from './Text';
import { Icon } from './Icons';
import type { ReplyTarget } from './MessageList';

export const COMMANDS = ['/join', '/part', '/msg', '/query', '/me', '/nick', '/topic', '/whois', '/away', '/list', '/quit', '/help'];

interface Props {
  buffer: AppBuffer;
  reply: ReplyTarget | null;
  onCancelReply: () => void;
  onHelp: () => void;
  onRooms: () => void;
  inputRef: { current: HTMLTextAreaElement | null };
}

const drafts = new Map<string, string>();
const sentHistory: string[] = [];

interface Completion {
  start: number;
  end: number;
  candidates: string[];
  index: number;
  atStart: boolean;
}

export function Composer({ buffer, reply, onCancelReply, onHelp, onRooms, inputRef }: Props) {
  const { client, t } = useApp();
  const [text, setText] = useState(drafts.get(buffer.key) ?? '');
  const histPos = useRef<number>(-1);
  const completion = useRef<Completion | null>(null);
  const keyRef = useRef(buffer.key);

  useEffect(() => {
    drafts.set(keyRef.current, text);
  }, [text]);

  useEffect(() => {
    keyRef.current = buffer.key;
    setText(drafts.get(buffer.key) ?? '');
    histPos.current = -1;
    completion.current = null;
  }, [buffer.key]);

  const submit = () => {
    const value = text;
    if (!value.trim()) return;
    const r = client.input(buffer.key, value, reply?.msgid);
    if (r.help) onHelp();
    if (value.trim().toLowerCase() === '/list') onRooms();
    if (r.ok || r.help) {
      if (sentHistory[sentHistory.length - 1] !== value) sentHistory.push(value);
      if (sentHistory.length > 100) sentHistory.shift();
      histPos.current = -1;
      setText('');
      drafts.set(buffer.key, '');
      if (reply) onCancelReply();
    }
  };

  const complete = (el: HTMLTextAreaElement) => {
    let c = completion.current;
    if (!c) {
      const caret = el.selectionStart ?? text.length;
      let start = caret;
      while (start > 0 && !/\s/.test(text[start - 1])) start--;
      const word = text.slice(start, caret);
      if (!word) return;
      const fold = casefold(word.replace(/^@/, ''));
      let candidates: string[];
      if (start === 0 && word.startsWith('/')) {
        candidates = COMMANDS.filter((x) => x.startsWith(word.toLowerCase()));
      } else if (word.startsWith('#')) {
        candidates = Object.values(client.state.buffers).filter((b) => b.kind === 'channel' && casefold(b.name).startsWith(fold)).map((b) => b.name);
      } else {
        const members = buffer.kind === 'channel' ? sortedMembers(buffer).map((m) => m.nick) : [buffer.name, client.state.nick];
        candidates = members.filter((n) => casefold(n).startsWith(fold) && casefold(n) !== casefold(client.state.nick));
      }
      if (!candidates.length) return;
      c = { start, end: caret, candidates, index: -1, atStart: start === 0 && !word.startsWith('/') && !word.startsWith('#') };
    }
    c.index = (c.index + 1) % c.candidates.length;
    const cand = c.candidates[c.index];
    const suffix = c.atStart ? ': ' : ' ';
    const next = text.slice(0, c.start) + cand + suffix + text.slice(c.end);
    c.end = c.start + cand.length + suffix.length;
    completion.current = c;
    setText(next);
    requestAnimationFrame(() => {
      el.selectionStart = el.selectionEnd = c!.end;
    });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    const el = e.currentTarget as HTMLTextAreaElement;
    if (e.key !== 'Tab') completion.current = null;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey) {
      e.preventDefault();
      submit();
      return;
    }
    if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
      if (text) {
        e.preventDefault();
        complete(el);
      }
      return;
    }
    if (e.key === 'Escape' && reply) {
      e.preventDefault();
      e.stopPropagation();
      onCancelReply();
      return;
    }
    if ((e.key === 'ArrowUp' || e.key === 'ArrowDown') && !e.altKey && !e.shiftKey && !e.ctrlKey && !e.metaKey) {
      const caret = el.selectionStart ?? 0;
      const firstLine = !text.slice(0, caret).includes('\n');
      const lastLine = !text.slice(caret).includes('\n');
      if (e.key === 'ArrowUp' && firstLine && sentHistory.length && (histPos.current >= 0 || !text)) {
        e.preventDefault();
        histPos.current = histPos.current < 0 ? sentHistory.length - 1 : Math.max(0, histPos.current - 1);
        setText(sentHistory[histPos.current]);
      } else if (e.key === 'ArrowDown' && lastLine && histPos.current >= 0) {
        e.preventDefault();
        histPos.current++;
        if (histPos.current >= sentHistory.length) {
          histPos.current = -1;
          setText('');
        } else {
          setText(sentHistory[histPos.current]);
        }
      }
    }
  };

  const rows = Math.min(6, text.split('\n').length);
  const disabled = buffer.kind === 'channel' && !buffer.joined && client.connected;
  const placeholder = t('messageTo', { target: buffer.kind === 'server' ? client.state.network : plainText(buffer.name, 64) });
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {reply && (
        <div class="replying">
          <span>
            {t('replyingTo', { nick: '' })}
            <Nick nick={reply.nick} />
            <span class="quote-text">{plainText(reply.text, 120)}</span>
          </span>
          <button type="button" class="icon-btn" aria-label={t('cancelReply')} title={t('cancelReply')} onClick={onCancelReply}>
            <Icon name="close" size={14} />
          </button>
        </div>
      )}
      <div class="composer-row">
        <span class="me-nick" aria-hidden="true">
          <Nick nick={client.state.nick} />
        </span>
        <textarea
          ref={inputRef}
          class="input"
          name="message"
          rows={rows}
          aria-label={placeholder}
          placeholder={placeholder}
          value={text}
          disabled={disabled}
          autoComplete="off"
          spellcheck={true}
          enterkeyhint="send"
          onInput={(e) => {
            const v = (e.currentTarget as HTMLTextAreaElement).value;
            setText(v);
            histPos.current = -1;
            client.typing(buffer.key, v);
          }}
          onKeyDown={onKeyDown}
        />
        <button type="submit" class="send" disabled={!text.trim()} aria-label={t('send')} title={t('send')}>
          <Icon name="send" />
        </button>
      </div>
    </form>
  );
}
