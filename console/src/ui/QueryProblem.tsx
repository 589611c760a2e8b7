import { useSession } from '../auth';
import { useHealth } from '../health';
import { useI18n } from '../i18n';

/**
 * A read that failed, with a retry. Silent when something else already says why: the
 * banner (the service is down) or the sign-in form (the session ended).
 */
export function QueryProblem({ message, onRetry }: { message: string; onRetry: () => void }) {
  const { t } = useI18n();
  const { reachable } = useHealth();
  const current = useSession();
  if (!reachable || current.state !== 'signed-in') return null;
  return (
    <div className="notice notice-error" role="alert">
      <span>{t('couldNotLoad', { message })}</span>{' '}
      <button type="button" className="button button-small" onClick={onRetry}>
        {t('tryAgain')}
      </button>
    </div>
  );
}
