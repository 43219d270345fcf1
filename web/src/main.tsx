import { render } from 'preact';
import { Client, Env, SocketLike, StorageLike } from './client';
import { App } from './ui/App';
import type { Theme } from './ui/Sidebar';
import { detectLang, Lang } from './i18n';

function storage(): StorageLike {
  try {
    const k = 'teahouse.probe';
    localStorage.setItem(k, '1');
    localStorage.removeItem(k);
    return localStorage;
  } catch {
    const m = new Map<string, string>();
    return {
      getItem: (k) => (m.has(k) ? m.get(k)! : null),
      setItem: (k, v) => void m.set(k, v),
      removeItem: (k) => void m.delete(k),
    };
  }
}

const store = storage();
const env: Env = {
  connect: (): SocketLike => {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    return new WebSocket(url, ['text.ircv3.net']) as unknown as SocketLike;
  },
  storage: store,
  now: () => Date.now(),
  random: () => Math.random(),
  setTimeout: (fn, ms) => window.setTimeout(fn, ms),
  clearTimeout: (h) => window.clearTimeout(h as number),
};

const client = new Client(env);
const lang: Lang = detectLang(store.getItem('teahouse.lang'), navigator.language);
const savedTheme = store.getItem('teahouse.theme');
const theme: Theme = savedTheme === 'light' || savedTheme === 'dark' ? savedTheme : 'auto';
if (!navigator.onLine) client.setOnline(false);

render(
  <App
    client={client}
    initialLang={lang}
    initialTheme={theme}
    saveLang={(l) => store.setItem('teahouse.lang', l)}
    saveTheme={(t) => (t === 'auto' ? store.removeItem('teahouse.theme') : store.setItem('teahouse.theme', t))}
  />,
  document.getElementById('app')!,
);
client.start();

// For the end-to-end script and debugging: read-only view of the state.
(window as unknown as { teahouse: unknown }).teahouse = { get state() { return client.state; } };
