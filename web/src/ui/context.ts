import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import type { Client } from '../client';
import { T, translator, Lang } from '../i18n';

export interface Ctx {
  client: Client;
  t: T;
  lang: Lang;
}

export const AppContext = createContext<Ctx>({ client: null as unknown as Client, t: translator('en'), lang: 'en' });

export function useApp(): Ctx {
  return useContext(AppContext);
}

/** Re-render every `ms` while `active` (countdowns, typing expiry). */
export function useTick(active: boolean, ms = 1000): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    if (!active) return;
    const h = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(h);
  }, [active, ms]);
  return n;
}

/** Join class names, skipping falsy ones. */
export function cx(...names: (string | false | null | undefined)[]): string {
  return names.filter(Boolean).join(' ');
}
