// /my-credits: a customer's own credit and invoices ("My Account > My Credits"), with a
// PAY button on each unpaid invoice that has a payment link. The API scopes `invoices`
// to the token's account; the account's own figures need its id, which the token
// carries (or, failing that, any of its invoices).
import { skipToken, useApolloClient, useQuery } from '@apollo/client/react';
import { useId, useState } from 'react';
import { useSession } from '../auth';
import { messageOf } from '../errors';
import { graphql } from '../gql';
import type { InvoiceStatus, MyInvoicesQuery } from '../gql/graphql';
import { useI18n } from '../i18n';
import { useLiveChanges } from '../live';
import { useSessionState } from '../persist';
import { Dialog } from '../ui/Dialog';
import { Pager } from '../ui/Pager';
import { QueryProblem } from '../ui/QueryProblem';
import { StatusBadge } from '../ui/StatusBadge';
import { TableScroll } from '../ui/TableScroll';
import { useKept } from '../ui/useKept';

const PAGE_SIZE = 50;

const MyAccountQuery = graphql(`
  query MyAccount($id: ID!) {
    account(id: $id) {
      id
      name
      currency
      creditLimit
      openBalance
      availableCredit
    }
  }
`);

const MyInvoicesQueryDocument = graphql(`
  query MyInvoices($status: InvoiceStatus, $first: Int!, $after: String) {
    statusChangeCursor
    invoices(status: $status, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        friendlyId
        status
        value
        currency
        dueDate
        originalDueDate
        installment
        numberOfInstallments
        orderId
        paymentLink
        observation
        accountId
      }
    }
  }
`);

type Invoice = MyInvoicesQuery['invoices']['nodes'][number];

interface MyCreditsView {
  status: InvoiceStatus | null;
  pages: (string | null)[];
}

const STATUS_OPTIONS: readonly InvoiceStatus[] = ['OPEN', 'OVERDUE', 'PAID', 'CANCELLED'];

/** Only an unpaid invoice with an https link gets PAY (the API refuses other links too). */
export function payLink(invoice: Pick<Invoice, 'status' | 'paymentLink'>): string | null {
  if (invoice.status !== 'OPEN' && invoice.status !== 'OVERDUE') return null;
  if (!invoice.paymentLink) return null;
  try {
    return new URL(invoice.paymentLink).protocol === 'https:' ? invoice.paymentLink : null;
  } catch {
    return null;
  }
}

export function MyCreditsPage() {
  const { t, money, date } = useI18n();
  const client = useApolloClient();
  const current = useSession();
  const [view, setView] = useSessionState<MyCreditsView>('cg.my-credits', () => ({ status: null, pages: [null] }));
  const [shown, setShown] = useState<Invoice | null>(null);
  const filterId = useId();
  const payHintId = useId();

  const variables = { status: view.status, first: PAGE_SIZE, after: view.pages[view.pages.length - 1] ?? null };
  const list = useQuery(MyInvoicesQueryDocument, {
    variables,
    fetchPolicy: 'cache-and-network',
    nextFetchPolicy: 'cache-first',
  });
  const listData = useKept(list.data, JSON.stringify(variables));
  const page = listData?.invoices;

  const claims = current.state === 'signed-out' ? null : current.claims;
  const accountId = claims?.accountId ?? page?.nodes[0]?.accountId ?? null;
  const account = useQuery(
    MyAccountQuery,
    accountId ? { variables: { id: accountId }, fetchPolicy: 'cache-and-network', nextFetchPolicy: 'cache-first' } : skipToken,
  );
  const summary = useKept(account.data, accountId ?? '')?.account;

  useLiveChanges(listData?.statusChangeCursor, () => {
    void client.refetchQueries({ include: ['MyInvoices', 'MyAccount'] }).catch(() => undefined);
  });

  return (
    <div className="my-credits">
      {summary ? (
        <section className="card summary" aria-labelledby="summary-title">
          <h2 id="summary-title">
            {t('yourCredit')} <span className="muted summary-name">{summary.name}</span>
          </h2>
          <dl className="figures">
            <div>
              <dt>{t('creditLimit')}</dt>
              <dd>{money(summary.creditLimit, summary.currency)}</dd>
            </div>
            <div>
              <dt>{t('openBalance')}</dt>
              <dd>{money(summary.openBalance, summary.currency)}</dd>
            </div>
            <div>
              <dt>{t('availableCredit')}</dt>
              <dd className={summary.availableCredit.startsWith('-') ? 'negative' : undefined}>
                {money(summary.availableCredit, summary.currency)}
              </dd>
            </div>
          </dl>
        </section>
      ) : null}

      <section className="card panel" aria-labelledby="invoices-title">
        <div className="panel-head">
          <h2 id="invoices-title">{t('yourInvoices')}</h2>
          <div className="inline-field">
            <label htmlFor={filterId}>{t('statusFilter')}</label>
            <select
              id={filterId}
              value={view.status ?? ''}
              onChange={(event) =>
                setView(() => ({ status: (event.target.value || null) as InvoiceStatus | null, pages: [null] }))
              }
            >
              <option value="">{t('allStatuses')}</option>
              {STATUS_OPTIONS.map((status) => (
                <option key={status} value={status}>
                  {t(`status${status}`)}
                </option>
              ))}
            </select>
          </div>
        </div>
        {list.error ? (
          <QueryProblem message={messageOf(list.error)} onRetry={() => void list.refetch().catch(() => undefined)} />
        ) : null}
        <p id={payHintId} className="visually-hidden">
          {t('opensInNewTab')}
        </p>
        <TableScroll label={t('yourInvoices')}>
          <table className="table" aria-busy={list.loading}>
            <caption className="visually-hidden">{t('yourInvoices')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colInvoice')}</th>
                <th scope="col">{t('colDueDate')}</th>
                <th scope="col" className="num">
                  {t('colValue')}
                </th>
                <th scope="col">{t('colStatus')}</th>
                <th scope="col" className="optional">
                  {t('colInstallment')}
                </th>
                <th scope="col">
                  <span className="visually-hidden">{t('pay')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page?.nodes.map((invoice) => {
                const link = payLink(invoice);
                return (
                  <tr key={invoice.id} className={invoice.status === 'OVERDUE' ? 'is-overdue' : undefined}>
                    <th scope="row">
                      <button type="button" className="link-button mono nowrap" onClick={() => setShown(invoice)}>
                        {invoice.friendlyId}
                      </button>
                    </th>
                    <td className="nowrap">{date(invoice.dueDate)}</td>
                    <td className="num">{money(invoice.value, invoice.currency)}</td>
                    <td>
                      <StatusBadge status={invoice.status} />
                    </td>
                    <td className="optional">
                      {t('installmentOf', { n: invoice.installment, total: invoice.numberOfInstallments })}
                    </td>
                    <td className="pay-cell">
                      {link ? (
                        <a
                          className="button button-primary button-small"
                          href={link}
                          target="_blank"
                          rel="noopener noreferrer"
                          aria-describedby={payHintId}
                        >
                          {t('pay')}
                        </a>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableScroll>
        {page && page.nodes.length === 0 ? <p className="empty">{t('noInvoices')}</p> : null}
        {!page && list.loading ? (
          <p className="empty" role="status">
            {t('loading')}
          </p>
        ) : null}
        {page && (page.pageInfo.hasNextPage || view.pages.length > 1) ? (
          <Pager
            stack={view.pages}
            pageSize={PAGE_SIZE}
            shown={page.nodes.length}
            total={page.totalCount}
            endCursor={page.pageInfo.endCursor}
            hasNextPage={page.pageInfo.hasNextPage}
            onChange={(pages) => setView((v) => ({ ...v, pages }))}
          />
        ) : null}
      </section>

      {shown ? <InvoiceDialog invoice={shown} payHintId={payHintId} onClose={() => setShown(null)} /> : null}
    </div>
  );
}

function InvoiceDialog({ invoice, payHintId, onClose }: { invoice: Invoice; payHintId: string; onClose: () => void }) {
  const { t, money, date } = useI18n();
  const link = payLink(invoice);
  return (
    <Dialog title={t('detailsTitle', { id: invoice.friendlyId })} onClose={onClose}>
      <dl className="facts">
        <div>
          <dt>{t('colStatus')}</dt>
          <dd>
            <StatusBadge status={invoice.status} />
          </dd>
        </div>
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
          <dt>{t('order')}</dt>
          <dd className="mono">{invoice.orderId}</dd>
        </div>
        {invoice.observation ? (
          <div className="wide">
            <dt>{t('observation')}</dt>
            <dd className="pre">{invoice.observation}</dd>
          </div>
        ) : null}
      </dl>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose}>
          {t('close')}
        </button>
        {link ? (
          <a className="button button-primary" href={link} target="_blank" rel="noopener noreferrer" aria-describedby={payHintId}>
            {t('pay')}
          </a>
        ) : null}
      </div>
    </Dialog>
  );
}
