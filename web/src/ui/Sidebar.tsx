import { useState } from 'preact/hooks';
import type { AppBuffer } from '../store';
import { bufferOrder, mentionCount, unreadCount, sortedMembers } from '../store';
import { cleanLabel } from '../render';
import { useApp, cx } from './context';
import { Nick, Label } from './Text';
import { Icon } from './Icons';
import type { Lang } from '../i18n';

export type Theme = 'auto' | 'light' | 'dark';

interface SidebarProps {
  open: boolean;
  onSelect: (key: string) => void;
  onBrowse: () => void;
  onAccount: () => void;
  onHelp: () => void;
  onClose: () => void;
  theme: Theme;
  setTheme: (t: Theme) => void;
  setLang: (l: Lang) => void;
}

function BufferItem({ b, active, onSelect }: { b: AppBuffer; active: boolean; onSelect: (k: string) => void }) {
  const { client, t } = useApp();
  const unread = active ? 0 : unreadCount(b);
  const mentions = active ? 0 : mentionCount(b);
  const label = b.kind === 'server' ? client.state.network : b.name;
  return (
    <li class={cx('buf', 'k-' + b.kind, active && 'active', unread > 0 && 'unread', mentions > 0 && 'mention', b.kind === 'channel' && !b.joined && 'parted')}>
      <button
        type="button"
        class="buf-btn"
        aria-current={active ? 'page' : undefined}
        onClick={() => onSelect(b.key)}
        data-buffer={b.name}
      >
        <span class="buf-icon" aria-hidden="true">{b.kind === 'channel' ? '#' : b.kind === 'query' ? '@' : <Icon name="home" size={15} />}</span>
        <span class="buf-name">
          {b.kind === 'query' ? <Nick nick={label} plain /> : <Label text={b.kind === 'channel' ? label.replace(/^#/, '') : label} />}
        </span>
        {unread > 0 && (
          <span class={cx('badge', mentions > 0 && 'badge-mention')} aria-label={mentions > 0 ? t('mentionsN', { n: mentions }) : t('unread', { n: unread })}>
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </button>
      {b.kind !== 'server' && (
        <button
          type="button"
          class="buf-close"
          aria-label={b.kind === 'channel' ? t('leave', { name: cleanLabel(b.name) }) : t('closeDm', { name: cleanLabel(b.name) })}
          title={b.kind === 'channel' ? t('leave', { name: cleanLabel(b.name) }) : t('closeDm', { name: cleanLabel(b.name) })}
          onClick={() => client.part(b.key)}
        >
          <Icon name="close" size={14} />
        </button>
      )}
    </li>
  );
}

export function Sidebar(p: SidebarProps) {
  const { client, t, lang } = useApp();
  const s = client.state;
  const [room, setRoom] = useState('');
  const order = bufferOrder(s.buffers).map((k) => s.buffers[k]);
  const server = order.filter((b) => b.kind === 'server');
  const chans = order.filter((b) => b.kind === 'channel');
  const dms = order.filter((b) => b.kind === 'query');
  return (
    <nav class={cx('sidebar', p.open && 'open')} role="navigation" aria-label={t('bufferList')}>
      <div class="brand">
        <img src="/icon.svg" alt="" width={24} height={24} />
        <span class="brand-name">teahouse</span>
        <button type="button" class="icon-btn drawer-close" aria-label={t('closePanel')} onClick={p.onClose}>
          <Icon name="close" />
        </button>
      </div>
      <div class="buffers">
        <ul class="buf-list">
          {server.map((b) => (
            <BufferItem key={b.key} b={b} active={b.key === s.active} onSelect={p.onSelect} />
          ))}
        </ul>
        <h2 class="section">{t('rooms')}</h2>
        <ul class="buf-list">
          {chans.map((b) => (
            <BufferItem key={b.key} b={b} active={b.key === s.active} onSelect={p.onSelect} />
          ))}
        </ul>
        <form
          class="join-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!room.trim()) return;
            client.join(room.trim());
            setRoom('');
          }}
        >
          <input
            name="room"
            type="text"
            aria-label={t('joinLabel')}
            placeholder={t('joinPlaceholder')}
            value={room}
            onInput={(e) => setRoom((e.currentTarget as HTMLInputElement).value)}
            autoComplete="off"
          />
          <button type="submit" class="btn small">
            {t('joinBtn')}
          </button>
        </form>
        <button type="button" class="link-btn" onClick={p.onBrowse}>
          {t('browseRooms')}
        </button>
        {dms.length > 0 && (
          <>
            <h2 class="section">{t('dms')}</h2>
            <ul class="buf-list">
              {dms.map((b) => (
                <BufferItem key={b.key} b={b} active={b.key === s.active} onSelect={p.onSelect} />
              ))}
            </ul>
          </>
        )}
      </div>
      <div class="side-foot">
        <button type="button" class="me-btn" onClick={p.onAccount} title={t('account')}>
          <Nick nick={s.nick} />
          <span class="acct">{s.account ? t('loggedInAs', { account: cleanLabel(s.account) }) : t('notLoggedIn')}</span>
        </button>
        <div class="prefs">
          <label class="pref">
            <span class="sr-only">{t('language')}</span>
            <select aria-label={t('language')} value={lang} onChange={(e) => p.setLang((e.currentTarget as HTMLSelectElement).value as Lang)}>
              <option value="en">English</option>
              <option value="zh">中文</option>
            </select>
          </label>
          <label class="pref">
            <span class="sr-only">{t('theme')}</span>
            <select aria-label={t('theme')} value={p.theme} onChange={(e) => p.setTheme((e.currentTarget as HTMLSelectElement).value as Theme)}>
              <option value="auto">{t('themeAuto')}</option>
              <option value="light">{t('themeLight')}</option>
              <option value="dark">{t('themeDark')}</option>
            </select>
          </label>
          <button type="button" class="icon-btn" aria-label={t('help')} title={t('help') + ' (?)'} onClick={p.onHelp}>
            <Icon name="help" />
          </button>
        </div>
      </div>
    </nav>
  );
}

export function Members({ buffer, open, onClose, onQuery }: { buffer: AppBuffer; open: boolean; onClose: () => void; onQuery: (nick: string) => void }) {
  const { t, client } = useApp();
  const order = client.state.isupport.PREFIX ? /^\([^)]*\)(.*)$/.exec(client.state.isupport.PREFIX)?.[1] ?? '@+' : '@+';
  const members = sortedMembers(buffer, order);
  return (
    <aside class={cx('members', open && 'open')} role="complementary" aria-label={t('members')}>
      <div class="members-head">
        <h2>{t('membersCount', { n: members.length })}</h2>
        <button type="button" class="icon-btn drawer-close" aria-label={t('closePanel')} onClick={onClose}>
          <Icon name="close" />
        </button>
      </div>
      <ul class="member-list">
        {members.map((m) => {
          const top = m.prefixes[0] ?? '';
          const role = top === '@' ? t('operator') : top === '+' ? t('voiced') : '';
          return (
            <li key={m.nick} class={cx('member', top === '@' && 'op', top === '+' && 'voice', m.away && 'away')}>
              <button type="button" class="member-btn" onClick={() => onQuery(m.nick)} title={t('dmWith', { nick: cleanLabel(m.nick) })}>
                <span class="prefix" aria-label={role || undefined} title={role || undefined}>
                  {m.prefixes[0] ?? ''}
                </span>
                <Nick nick={m.nick} />
                {m.away && <span class="sr-only"> ({t('away')})</span>}
              </button>
            </li>
          );
        })}
      </ul>
    </aside>
  );
}
