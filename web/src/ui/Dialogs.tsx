import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { bufferOrder, unreadCount, mentionCount } from '../store';
import { casefold } from '../irc';
import { cleanLabel, plainText } from '../render';
import { useApp, cx } from './context';
import { Label, RichText } from './Text';
import { Icon } from './Icons';
import type { Key } from '../i18n';

/** A modal dialog: focus moves in, Esc or the backdrop closes it, focus goes back. */
export function Dialog({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const { t } = useApp();
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const el = ref.current;
    const first = el?.querySelector<HTMLElement>('input, select, textarea, button:not(.dialog-x)');
    (first ?? el)?.focus();
    return () => prev?.focus?.();
  }, []);
  return (
    <div
      class="dialog-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div
        class={cx('dialog', wide && 'wide')}
        role="dialog"
        aria-modal="true"
        aria-label={title}
        ref={ref}
        tabIndex={-1}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            onClose();
          }
          if (e.key === 'Tab') {
            // keep focus inside
            const items = Array.from(ref.current?.querySelectorAll<HTMLElement>('input, select, textarea, button, a[href], [tabindex="0"]') ?? []).filter((x) => !(x as HTMLButtonElement).disabled);
            if (!items.length) return;
            const i = items.indexOf(document.activeElement as HTMLElement);
            if (e.shiftKey && i <= 0) {
              e.preventDefault();
              items[items.length - 1].focus();
            } else if (!e.shiftKey && i === items.length - 1) {
              e.preventDefault();
              items[0].focus();
            }
          }
        }}
      >
        <div class="dialog-head">
          <h2>{title}</h2>
          <button type="button" class="icon-btn dialog-x" aria-label={t('close')} title={t('close') + ' (Esc)'} onClick={onClose}>
            <Icon name="close" />
          </button>
        </div>
        <div class="dialog-body">{children}</div>
      </div>
    </div>
  );
}

export function QuickSwitcher({ onClose, onSelect }: { onClose: () => void; onSelect: (k: string) => void }) {
  const { client, t } = useApp();
  const [q, setQ] = useState('');
  const [sel, setSel] = useState(0);
  const bufs = client.state.buffers;
  const fold = casefold(q.trim());
  const items = bufferOrder(bufs)
    .map((k) => bufs[k])
    .filter((b) => !fold || casefold(b.kind === 'server' ? client.state.network : b.name).includes(fold))
    .sort((a, b) => mentionCount(b) - mentionCount(a) || unreadCount(b) - unreadCount(a));
  const cur = Math.min(sel, Math.max(0, items.length - 1));
  const go = (k: string | undefined) => {
    if (!k) return;
    onSelect(k);
    onClose();
  };
  return (
    <Dialog title={t('quickSwitch')} onClose={onClose}>
      <input
        class="qs-input"
        type="text"
        role="combobox"
        aria-expanded="true"
        aria-controls="qs-list"
        aria-activedescendant={items[cur] ? 'qs-' + cur : undefined}
        aria-label={t('quickSwitch')}
        placeholder={t('quickSwitchPlaceholder')}
        value={q}
        onInput={(e) => {
          setQ((e.currentTarget as HTMLInputElement).value);
          setSel(0);
        }}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            setSel(Math.min(items.length - 1, cur + 1));
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            setSel(Math.max(0, cur - 1));
          } else if (e.key === 'Enter') {
            e.preventDefault();
            go(items[cur]?.key);
          }
        }}
      />
      <ul class="qs-list" id="qs-list" role="listbox" aria-label={t('bufferList')}>
        {items.length === 0 && <li class="empty">{t('noMatch')}</li>}
        {items.map((b, i) => {
          const n = unreadCount(b);
          return (
            <li key={b.key} id={'qs-' + i} role="option" aria-selected={i === cur} class={cx('qs-item', i === cur && 'sel')} onMouseDown={(e) => {
              e.preventDefault();
              go(b.key);
            }}>
              <span class="buf-icon" aria-hidden="true">{b.kind === 'channel' ? '#' : b.kind === 'query' ? '@' : <Icon name="home" size={15} />}</span>
              <Label text={b.kind === 'server' ? client.state.network : b.kind === 'channel' ? b.name.replace(/^#/, '') : b.name} />
              {n > 0 && <span class={cx('badge', mentionCount(b) > 0 && 'badge-mention')}>{n}</span>}
            </li>
          );
        })}
      </ul>
    </Dialog>
  );
}

export function RoomBrowser({ onClose }: { onClose: () => void }) {
  const { client, t } = useApp();
  const [q, setQ] = useState('');
  useEffect(() => {
    if (client.connected) client.listRooms();
  }, []);
  const rooms = client.state.rooms;
  const fold = casefold(q.trim());
  const list = (rooms?.list ?? [])
    .filter((r) => !fold || casefold(r.name).includes(fold) || casefold(r.topic).includes(fold))
    .sort((a, b) => b.users - a.users || (a.name < b.name ? -1 : 1));
  return (
    <Dialog title={t('roomBrowser')} onClose={onClose} wide>
      <input type="search" class="rb-filter" aria-label={t('roomFilter')} placeholder={t('roomFilter')} value={q} onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} />
      {rooms?.loading && <p class="muted">{t('loading')}</p>}
      {!rooms?.loading && list.length === 0 && <p class="muted">{t('noRooms')}</p>}
      <ul class="room-list">
        {list.map((r) => (
          <li key={r.name} class="room">
            <div class="room-main">
              <span class="room-name">
                <Label text={r.name} />
              </span>
              <span class="room-users">{t('roomUsers', { n: r.users })}</span>
              {r.topic && (
                <div class="room-topic">
                  <RichText text={plainText(r.topic, 300)} />
                </div>
              )}
            </div>
            <button
              type="button"
              class="btn small"
              onClick={() => {
                client.join(r.name);
                onClose();
              }}
              aria-label={t('joinBtn') + ' ' + cleanLabel(r.name)}
            >
              {t('joinBtn')}
            </button>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}

export function HelpDialog({ onClose }: { onClose: () => void }) {
  const { t } = useApp();
  const cmds: [string, Key][] = [
    ['/join #room', 'cmdJoin'],
    ['/part [reason]', 'cmdPart'],
    ['/msg nick text', 'cmdMsg'],
    ['/query nick', 'cmdQuery'],
    ['/me text', 'cmdMe'],
    ['/nick name', 'cmdNick'],
    ['/topic text', 'cmdTopic'],
    ['/whois nick', 'cmdWhois'],
    ['/away [text]', 'cmdAway'],
    ['/list', 'cmdList'],
    ['/quit [reason]', 'cmdQuit'],
    ['/help', 'cmdHelp'],
  ];
  const keys: [string, Key][] = [
    ['Alt+↑ / Alt+↓', 'keyPrevNext'],
    ['Alt+Shift+↓ / Alt+A', 'keyNextUnread'],
    ['Ctrl+K', 'keyQuick'],
    ['Esc', 'keyEsc'],
    ['Tab', 'keyTab'],
    ['↑ / ↓', 'keyHistory'],
    ['Shift+Enter', 'keyNewline'],
  ];
  return (
    <Dialog title={t('helpTitle')} onClose={onClose} wide>
      <h3>{t('commands')}</h3>
      <dl class="help-list">
        {cmds.map(([c, k]) => (
          <div key={c} class="help-row">
            <dt>
              <code>{c}</code>
            </dt>
            <dd>{t(k)}</dd>
          </div>
        ))}
      </dl>
      <h3>{t('shortcuts')}</h3>
      <dl class="help-list">
        {keys.map(([c, k]) => (
          <div key={c} class="help-row">
            <dt>
              <kbd>{c}</kbd>
            </dt>
            <dd>{t(k)}</dd>
          </div>
        ))}
      </dl>
    </Dialog>
  );
}

export function AccountDialog({ onClose }: { onClose: () => void }) {
  const { client, t } = useApp();
  const s = client.state;
  const [pw, setPw] = useState('');
  const [remember, setRemember] = useState(false);
  useEffect(() => () => client.clearRegisterResult(), []);
  return (
    <Dialog title={t('account')} onClose={onClose}>
      {s.account ? (
        <div class="stack">
          {s.register?.ok && (
            <p class="ok" role="status">
              {plainText(s.register.text, 300)}
            </p>
          )}
          <p>{t('loggedInAs', { account: cleanLabel(s.account) })}</p>
        </div>
      ) : (
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            if (pw) client.registerAccount(pw, remember);
          }}
        >
          <h3>{t('registerTitle', { nick: cleanLabel(s.nick) })}</h3>
          <p class="muted">{t('registerHelp')}</p>
          <label class="field">
            <span>{t('password')}</span>
            <input type="password" name="register-password" autoComplete="new-password" value={pw} onInput={(e) => setPw((e.currentTarget as HTMLInputElement).value)} />
          </label>
          <label class="check">
            <input type="checkbox" checked={remember} onChange={(e) => setRemember((e.currentTarget as HTMLInputElement).checked)} />
            <span>{t('rememberPassword')}</span>
          </label>
          {s.register && (
            <p class={s.register.ok ? 'ok' : 'err'} role="alert">
              {plainText(s.register.text, 300)}
            </p>
          )}
          <button type="submit" class="btn primary" disabled={!pw || !client.connected}>
            {t('register')}
          </button>
        </form>
      )}
      <hr />
      <p class="muted">{t('logoutHelp')}</p>
      <button
        type="button"
        class="btn danger"
        onClick={() => {
          onClose();
          client.logout();
        }}
      >
        {t('logout')}
      </button>
    </Dialog>
  );
}
