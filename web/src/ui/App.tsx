import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Client } from '../client';
import { AppState } from '../client';
import { SERVER_KEY, unreadCount, mentionCount } from '../store';
import { Lang, translator } from '../i18n';
import { plainText } from '../render';
import { AppContext, cx } from './context';
import { Picker } from './Picker';
import { Sidebar, Members, Theme } from './Sidebar';
import { MessageList, TypingLine, ReplyTarget } from './MessageList';
import { Composer } from './Composer';
import { Topic } from './Topic';
import { ConnectionStatus } from './Status';
import { QuickSwitcher, RoomBrowser, HelpDialog, AccountDialog } from './Dialogs';
import { Label } from './Text';
import { Icon } from './Icons';

type DialogName = 'switcher' | 'rooms' | 'help' | 'account' | null;

interface Props {
  client: Client;
  initialLang: Lang;
  initialTheme: Theme;
  saveLang: (l: Lang) => void;
  saveTheme: (t: Theme) => void;
}

const narrow = () => window.matchMedia('(max-width: 860px)').matches;

export function App({ client, initialLang, initialTheme, saveLang, saveTheme }: Props) {
  const [state, setState] = useState<AppState>(client.state);
  const [lang, setLangState] = useState<Lang>(initialLang);
  const [theme, setThemeState] = useState<Theme>(initialTheme);
  const [dialog, setDialog] = useState<DialogName>(null);
  const [sideOpen, setSideOpen] = useState(false);
  const [membersOpen, setMembersOpen] = useState(() => !narrow());
  const [reply, setReply] = useState<ReplyTarget | null>(null);
  const inputRef = useRef<HTMLTextAreaElement | null>(null);

  // Batch state updates into one render per frame.
  useEffect(() => {
    let raf = 0;
    const unsub = client.subscribe(() => {
      if (raf) return;
      raf = requestAnimationFrame(() => {
        raf = 0;
        setState(client.state);
      });
    });
    setState(client.state);
    return () => {
      unsub();
      if (raf) cancelAnimationFrame(raf);
    };
  }, [client]);

  const t = useMemo(() => translator(lang), [lang]);
  const ctx = useMemo(() => ({ client, t, lang }), [client, t, lang, state]);

  const setLang = (l: Lang) => {
    setLangState(l);
    saveLang(l);
  };
  const setTheme = (th: Theme) => {
    setThemeState(th);
    saveTheme(th);
  };

  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  }, [lang]);
  useEffect(() => {
    if (theme === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
  }, [theme]);

  const active = state.buffers[state.active] ?? state.buffers[SERVER_KEY];

  // Title: unread count of the other buffers.
  useEffect(() => {
    let n = 0;
    let hl = false;
    for (const b of Object.values(state.buffers)) {
      if (b.key === active.key) continue;
      n += unreadCount(b);
      if (mentionCount(b) > 0) hl = true;
    }
    const name = active.kind === 'server' ? state.network : plainText(active.name, 64);
    document.title = (n ? `(${hl ? '!' : ''}${n}) ` : '') + name + ' — teahouse';
  }, [state, active.key]);

  useEffect(() => setReply(null), [active.key]);

  const select = (key: string) => {
    client.setActive(key);
    setSideOpen(false);
    if (!narrow()) requestAnimationFrame(() => inputRef.current?.focus());
  };

  // Keyboard shortcuts.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLElement && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
      if (e.altKey && !e.ctrlKey && !e.metaKey) {
        if (e.shiftKey && e.key === 'ArrowDown') {
          e.preventDefault();
          client.nextUnread();
          return;
        }
        if (!e.shiftKey && (e.code === 'KeyA' || e.key === 'a')) {
          e.preventDefault();
          client.nextUnread();
          return;
        }
        if (e.key === 'ArrowUp') {
          e.preventDefault();
          client.cycleBuffer(-1);
          return;
        }
        if (e.key === 'ArrowDown') {
          e.preventDefault();
          client.cycleBuffer(1);
          return;
        }
      }
      if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === 'k' || e.key === 'K')) {
        e.preventDefault();
        setDialog((d) => (d === 'switcher' ? null : 'switcher'));
        return;
      }
      if (e.key === 'Escape') {
        if (dialog) setDialog(null);
        else if (sideOpen) setSideOpen(false);
        else if (membersOpen && narrow()) setMembersOpen(false);
        else if (reply) setReply(null);
        return;
      }
      if (e.key === '?' && !typing && !dialog) {
        e.preventDefault();
        setDialog('help');
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [dialog, sideOpen, membersOpen, reply]);

  // Online/offline.
  useEffect(() => {
    const on = () => client.setOnline(true);
    const off = () => client.setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, [client]);

  if (state.conn.status === 'picker' || client.pickerPending) {
    return (
      <AppContext.Provider value={ctx}>
        <Picker setLang={setLang} />
      </AppContext.Provider>
    );
  }

  const showMembers = active.kind === 'channel' && membersOpen;
  const drawer = sideOpen || (showMembers && narrow());
  return (
    <AppContext.Provider value={ctx}>
      <div class={cx('app', showMembers && 'with-members')}>
        <a class="skip" href="#composer-input" onClick={(e) => {
          e.preventDefault();
          inputRef.current?.focus();
        }}>
          {t('messages')}
        </a>
        <Sidebar
          open={sideOpen}
          onSelect={select}
          onBrowse={() => setDialog('rooms')}
          onAccount={() => setDialog('account')}
          onHelp={() => setDialog('help')}
          onClose={() => setSideOpen(false)}
          theme={theme}
          setTheme={setTheme}
          setLang={setLang}
        />
        <main class="main" role="main" aria-label={active.kind === 'server' ? state.network : plainText(active.name, 64)}>
          <header class="bar">
            <button type="button" class="icon-btn menu-btn" aria-label={t('openSidebar')} aria-expanded={sideOpen} onClick={() => setSideOpen(!sideOpen)}>
              <Icon name="menu" size={20} />
              {Object.values(state.buffers).some((b) => b.key !== active.key && unreadCount(b) > 0) && <span class="menu-dot" aria-hidden="true" />}
            </button>
            <div class="bar-title">
              <h1 class="buf-title">
                <Label text={active.kind === 'server' ? state.network : active.name} />
              </h1>
              <Topic buffer={active} />
            </div>
            <ConnectionStatus />
            {active.kind === 'channel' && (
              <button
                type="button"
                class={cx('icon-btn', 'members-btn', membersOpen && 'on')}
                aria-label={t('openMembers')}
                aria-expanded={membersOpen}
                title={t('openMembers')}
                onClick={() => setMembersOpen(!membersOpen)}
              >
                <Icon name="users" />
                <span class="members-n">{Object.keys(active.members).length}</span>
              </button>
            )}
          </header>
          <MessageList buffer={active} active onReply={(r) => {
            setReply(r);
            requestAnimationFrame(() => inputRef.current?.focus());
          }} />
          <TypingLine buffer={active} />
          <Composer
            buffer={active}
            reply={reply}
            onCancelReply={() => setReply(null)}
            onHelp={() => setDialog('help')}
            onRooms={() => setDialog('rooms')}
            inputRef={inputRef}
          />
        </main>
        {active.kind === 'channel' && (
          <Members
            buffer={active}
            open={showMembers}
            onClose={() => setMembersOpen(false)}
            onQuery={(n) => {
              client.openQuery(n);
              if (narrow()) setMembersOpen(false);
            }}
          />
        )}
        {drawer && (
          <div
            class="backdrop"
            aria-hidden="true"
            onClick={() => {
              setSideOpen(false);
              if (narrow()) setMembersOpen(false);
            }}
          />
        )}
        {dialog === 'switcher' && <QuickSwitcher onClose={() => setDialog(null)} onSelect={select} />}
        {dialog === 'rooms' && <RoomBrowser onClose={() => setDialog(null)} />}
        {dialog === 'help' && <HelpDialog onClose={() => setDialog(null)} />}
        {dialog === 'account' && <AccountDialog onClose={() => setDialog(null)} />}
      </div>
    </AppContext.Provider>
  );
}
