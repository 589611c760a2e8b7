// The open invoice: what it is, whom it bills, what happened to it, and what an admin
// can do to it. A panel beside the list (below it on a narrow screen).
import { useQuery } from '@apollo/client/react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { messageOf } from '../errors';
import { graphql } from '../gql';
import { useI18n } from '../i18n';
import { QueryProblem } from '../ui/QueryProblem';
import { StatusBadge } from '../ui/StatusBadge';
import { useKept } from '../ui/useKept';
import { History } from './History';
import { InvoiceActions } from './InvoiceActions';

// Everything the panel shows; every mutation answers with it, so the panel (and the
// row in the list, by id) update from the answer alone.
graphql(`
  fragment InvoiceDetailsFields on Invoice {
    id
    friendlyId
    status
    value
    currency
    dueDate
    originalDueDate
    installment
    numberOfInstallments
    paymentLink
    observation
    orderId
    version
    createdAt
    updatedAt
    resolvedAt
    order {
      id
      value
      currency
      createdAt
    }
    account {
      id
      name
      email
    }
    history {
      cursor
      occurredAt
      actor
      source
      previousStatus
      status
      reason
      importId
      paymentLinkChange {
        from
        to
      }
      observationChange {
        from
        to
      }
      dueDateChange {
        from
        to
      }
    }
  }
`);

const InvoiceDetailsQuery = graphql(`
  query InvoiceDetails($id: ID!) {
    today
    invoice(id: $id) {
      ...InvoiceDetailsFields
    }
  }
`);

interface InvoiceDetailsProps {
  id: string;
  /** Move focus to the panel (it was opened by a click, not restored by a reload). */
  focusOnOpen: boolean;
  onClose: () => void;
}

export function InvoiceDetails({ id, focusOnOpen, onClose }: InvoiceDetailsProps) {
  const { t, money, date, dateTime } = useI18n();
  const details = useQuery(InvoiceDetailsQuery, {
    variables: { id },
    fetchPolicy: 'cache-and-network',
    nextFetchPolicy: 'cache-first',
  });
  const { loading, error, refetch } = details;
  const data = useKept(details.data, id);
  const invoice = data?.invoice;
  const heading = useRef<HTMLHeadingElement>(null);
  const [conflict, setConflict] = useState(false);
  const [reloading, setReloading] = useState(false);

  useEffect(() => {
    setConflict(false);
    if (focusOnOpen) {
      heading.current?.focus();
      heading.current?.scrollIntoView?.({ block: 'nearest' });
    }
  }, [id, focusOnOpen]);

  const onConflict = useCallback(() => setConflict(true), []);

  async function reload() {
    setReloading(true);
    try {
      await refetch();
      setConflict(false);
    } catch {
      // The problem shows through `error`.
    } finally {
      setReloading(false);
    }
  }

  return (
    <section className="card details" id="invoice-details" aria-labelledby="details-title">
      <div className="details-head">
        <h2 id="details-title" ref={heading} tabIndex={-1}>
          {t('detailsTitle', { id: invoice?.friendlyId ?? '…' })}
        </h2>
        {invoice ? <StatusBadge status={invoice.status} /> : null}
        <button type="button" className="button button-quiet close-button" aria-label={t('closeDetails')} onClick={onClose}>
          <span aria-hidden="true">×</span>
        </button>
      </div>

      {error ? <QueryProblem message={messageOf(error)} onRetry={() => void reload()} /> : null}
      {!invoice && loading ? <p role="status">{t('loading')}</p> : null}
      {data && !invoice ? <p className="notice">{t('invoiceGone')}</p> : null}

      {invoice ? (
        <>
          {conflict ? (
            <div className="notice notice-warning" role="alert">
              <span>{t('conflict')}</span>{' '}
              <button type="button" className="button button-small" onClick={() => void reload()} disabled={reloading}>
                {t('reload')}
              </button>
            </div>
          ) : null}

          <dl className="facts">
            <div>
              <dt>{t('value')}</dt>
              <dd className="amount">{money(invoice.value, invoice.currency)}</dd>
            </div>
            <div>
              <dt>{t('dueDate')}</dt>
              <dd>
                {date(invoice.dueDate)}
                {invoice.originalDueDate !== invoice.dueDate ? (
                  <span className="muted"> ({t('originalDueDate')}: {date(invoice.originalDueDate)})</span>
                ) : null}
              </dd>
            </div>
            <div>
              <dt>{t('installment')}</dt>
              <dd>{t('installmentOf', { n: invoice.installment, total: invoice.numberOfInstallments })}</dd>
            </div>
            <div className="wide">
              <dt>{t('paymentLink')}</dt>
              <dd className="break">
                {invoice.paymentLink ? (
                  <a href={invoice.paymentLink} target="_blank" rel="noopener noreferrer">
                    {invoice.paymentLink}
                  </a>
                ) : (
                  <span className="muted">{t('none')}</span>
                )}
              </dd>
            </div>
            <div className="wide">
              <dt>{t('account')}</dt>
              <dd>
                {invoice.account.name}
                <span className="muted block">
                  {t('accountId')}: <span className="mono">{invoice.account.id}</span>
                </span>
                <span className="muted block">{invoice.account.email}</span>
              </dd>
            </div>
            <div className="wide">
              <dt>{t('order')}</dt>
              <dd>
                <span className="mono">{invoice.orderId}</span>
                {invoice.order ? (
                  <span className="muted block">
                    {t('orderValue')}: {money(invoice.order.value, invoice.order.currency)} · {dateTime(invoice.order.createdAt)}
                  </span>
                ) : null}
              </dd>
            </div>
            <div className="wide">
              <dt>{t('observation')}</dt>
              <dd className="pre">{invoice.observation ?? <span className="muted">{t('none')}</span>}</dd>
            </div>
            <div>
              <dt>{t('created')}</dt>
              <dd>{dateTime(invoice.createdAt)}</dd>
            </div>
            <div>
              <dt>{t('lastChanged')}</dt>
              <dd>{dateTime(invoice.updatedAt)}</dd>
            </div>
            {invoice.resolvedAt ? (
              <div>
                <dt>{t('resolved')}</dt>
                <dd>{dateTime(invoice.resolvedAt)}</dd>
              </div>
            ) : null}
          </dl>

          <InvoiceActions invoice={invoice} today={data.today} onConflict={onConflict} returnFocus={() => heading.current} />
          <History events={invoice.history} />
        </>
      ) : null}
    </section>
  );
}
