// An invoice's history, oldest first: when, who, through what, and what changed
// (status from → to, due date, link, observation, with the reason given). A list
// rather than a table: it reads well in the narrow details panel.
import type { ReactNode } from 'react';
import type { InvoiceDetailsFieldsFragment } from '../gql/graphql';
import { useI18n } from '../i18n';
import { StatusBadge } from '../ui/StatusBadge';

type Event = InvoiceDetailsFieldsFragment['history'][number];

export function History({ events }: { events: readonly Event[] }) {
  const { t } = useI18n();
  return (
    <section className="history" aria-labelledby="history-title">
      <h3 id="history-title">{t('history')}</h3>
      <ol className="timeline">
        {events.map((event) => (
          <HistoryItem key={event.cursor} event={event} />
        ))}
      </ol>
    </section>
  );
}

function HistoryItem({ event }: { event: Event }) {
  const { t, date, dateTime } = useI18n();
  const changes: ReactNode[] = [];
  if (event.status && !event.previousStatus) {
    changes.push(<span key="created">{t('createdAs', { status: t(`status${event.status}`) })}</span>);
  } else if (event.status && event.previousStatus) {
    changes.push(
      <span key="status" className="transition">
        <StatusBadge status={event.previousStatus} /> → <StatusBadge status={event.status} />
      </span>,
    );
  }
  if (event.dueDateChange) {
    changes.push(
      <span key="due">{t('dueDateChange', { from: date(event.dueDateChange.from), to: date(event.dueDateChange.to) })}</span>,
    );
  }
  if (event.paymentLinkChange) {
    const { from, to } = event.paymentLinkChange;
    changes.push(<span key="link">{t(!from ? 'linkSet' : !to ? 'linkRemoved' : 'linkChanged')}</span>);
  }
  if (event.observationChange) changes.push(<span key="observation">{t('observationChanged')}</span>);
  if (event.reason) changes.push(<span key="reason" className="muted">{t('reasonIs', { reason: event.reason })}</span>);

  return (
    <li>
      <p className="timeline-meta">
        <span className="visually-hidden">{t('colWhen')}: </span>
        <time dateTime={event.occurredAt}>{dateTime(event.occurredAt)}</time>
        {' · '}
        <span className="visually-hidden">{t('colWho')}: </span>
        <span className="break">{event.actor}</span>
        {' · '}
        <span className="visually-hidden">{t('colThrough')}: </span>
        {t(`source${event.source}`)}
        {event.importId ? ` (${t('importRef', { id: event.importId.slice(0, 8) })})` : null}
      </p>
      <div className="changes">
        <span className="visually-hidden">{t('colChange')}: </span>
        {changes}
      </div>
    </li>
  );
}
