import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from './context';
import type { Lang } from '../i18n';
import type { Key } from '../i18n';

/** First visit (or back after a refusal): choose a nickname, maybe with its password. */
export function Picker({ setLang }: { setLang: (l: Lang) => void }) {
  const { client, t, lang } = useApp();
  const c = client.state.conn;
  const [nick, setNick] = useState(client.state.nick || '');
  const [havePw, setHavePw] = useState(!!c.needPassword);
  const [pw, setPw] = useState('');
  const [remember, setRemember] = useState(false);
  const [empty, setEmpty] = useState(false);
  const nickRef = useRef<HTMLInputElement>(null);
  const pwRef = useRef<HTMLInputElement>(null);
  const showPw = havePw || !!c.needPassword;

  useEffect(() => {
    if (c.needPassword) {
      setHavePw(true);
      setPw('');
      requestAnimationFrame(() => pwRef.current?.focus());
    } else {
      nickRef.current?.focus();
    }
  }, [c.needPassword, c.pickerError]);

  const err = c.pickerError;
  return (
    <main class="picker" role="main">
      <form
        class="picker-card"
        onSubmit={(e) => {
          e.preventDefault();
          const n = nick.trim();
          if (!n) {
            setEmpty(true);
            return;
          }
          setEmpty(false);
          client.login(n, showPw && pw ? pw : null, remember);
        }}
      >
        <div class="picker-brand">
          <img src="/icon.svg" alt="" width={48} height={48} />
          <h1>{t('pickerTitle')}</h1>
        </div>
        <label class="field">
          <span>{t('pickerPrompt')}</span>
          <input
            ref={nickRef}
            name="nick"
            type="text"
            autoComplete="username"
            autoCapitalize="off"
            spellcheck={false}
            maxLength={32}
            value={nick}
            aria-invalid={!!err && !c.needPassword}
            onInput={(e) => setNick((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <label class="check">
          <input type="checkbox" name="have-password" checked={showPw} onChange={(e) => setHavePw((e.currentTarget as HTMLInputElement).checked)} />
          <span>{t('havePassword')}</span>
        </label>
        {showPw && (
          <>
            <label class="field">
              <span>{t('password')}</span>
              <input ref={pwRef} name="password" type="password" autoComplete="current-password" value={pw} onInput={(e) => setPw((e.currentTarget as HTMLInputElement).value)} />
            </label>
            <label class="check">
              <input type="checkbox" name="remember" checked={remember} onChange={(e) => setRemember((e.currentTarget as HTMLInputElement).checked)} />
              <span>{t('rememberPassword')}</span>
            </label>
          </>
        )}
        {c.status === 'reconnecting' && !err && (
          <p class="err" role="alert">
            {t('connectFailed')}
          </p>
        )}
        {(err || empty) && (
          <p class="err" role="alert">
            {empty ? t('nickEmpty') : t(err!.key as Key, err!.args)}
          </p>
        )}
        <button type="submit" class="btn primary" disabled={c.status === 'connecting' || c.status === 'reconnecting'}>
          {c.status === 'connecting' || c.status === 'reconnecting' ? t('statusConnecting') : t('enter')}
        </button>
        <div class="picker-foot">
          <select aria-label={t('language')} value={lang} onChange={(e) => setLang((e.currentTarget as HTMLSelectElement).value as Lang)}>
            <option value="en">English</option>
            <option value="zh">中文</option>
          </select>
        </div>
      </form>
    </main>
  );
}
