import { useEffect, useRef, useState } from 'preact/hooks';
import type { AppBuffer } from '../store';
import { casefold } from '../irc';
import { useApp } from './context';
import { RichText } from './Text';
import { Icon } from './Icons';

/** The topic above the messages; operators edit it in place. */
export function Topic({ buffer }: { buffer: AppBuffer }) {
  const { client, t } = useApp();
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(buffer.topic);
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    setEditing(false);
  }, [buffer.key]);
  useEffect(() => {
    if (editing) {
      ref.current?.focus();
      ref.current?.select();
    }
  }, [editing]);
  if (buffer.kind !== 'channel') return null;
  const me = buffer.members[casefold(client.state.nick)];
  const isOp = !!me && me.prefixes.includes('@');
  if (editing) {
    return (
      <form
        class="topic editing"
        onSubmit={(e) => {
          e.preventDefault();
          client.setTopic(buffer.key, value.trim());
          setEditing(false);
        }}
      >
        <input
          ref={ref}
          name="topic"
          type="text"
          class="topic-input"
          aria-label={t('topicLabel')}
          value={value}
          maxLength={390}
          onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.stopPropagation();
              setEditing(false);
            }
          }}
        />
        <button type="submit" class="btn small primary">
          {t('save')}
        </button>
        <button type="button" class="btn small" onClick={() => setEditing(false)}>
          {t('cancel')}
        </button>
      </form>
    );
  }
  return (
    <div class="topic">
      <span class="topic-text" title={buffer.topic ? undefined : undefined}>
        {buffer.topic ? <RichText text={buffer.topic} /> : <span class="muted">{t('noTopic')}</span>}
      </span>
      {isOp && client.connected && (
        <button
          type="button"
          class="icon-btn topic-edit"
          aria-label={t('editTopic')}
          title={t('editTopic')}
          onClick={() => {
            setValue(buffer.topic);
            setEditing(true);
          }}
        >
          <Icon name="edit" size={15} />
        </button>
      )}
    </div>
  );
}
