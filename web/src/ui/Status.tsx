import { useApp, useTick, cx } from './context';

/** The connection state, always visible; a "reconnect now" button when waiting. */
export function ConnectionStatus({ compact }: { compact?: boolean }) {
  const { client, t } = useApp();
  const c = client.state.conn;
  useTick(c.status === 'reconnecting');
  let label: string;
  switch (c.status) {
    case 'connecting':
      label = t('statusConnecting');
      break;
    case 'connected':
      label = t('statusConnected');
      break;
    case 'reconnecting':
      label = t('statusReconnecting', { s: Math.max(0, Math.ceil(((c.retryAt ?? Date.now()) - Date.now()) / 1000)) });
      break;
    case 'offline':
      label = t('statusOffline');
      break;
    case 'disconnected':
      label = t('statusDisconnected');
      break;
    default:
      label = t('statusPicker');
  }
  const canRetry = c.status === 'reconnecting' || c.status === 'offline' || c.status === 'disconnected';
  return (
    <div class={cx('conn', 'conn-' + c.status, compact && 'compact')} role="status" aria-label={t('connectionLabel')}>
      <span class="dot" aria-hidden="true" />
      <span class="conn-label">{label}</span>
      {canRetry && (
        <button type="button" class="btn small" onClick={() => client.reconnectNow()}>
          {t('reconnectNow')}
        </button>
      )}
    </div>
  );
}
