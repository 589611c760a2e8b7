import type { InvoiceStatus } from '../gql/graphql';
import { useI18n } from '../i18n';

export function StatusBadge({ status }: { status: InvoiceStatus }) {
  const { t } = useI18n();
  return <span className={`badge badge-${status.toLowerCase()}`}>{t(`status${status}`)}</span>;
}
