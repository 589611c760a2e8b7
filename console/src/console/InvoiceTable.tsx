// One page of the current tab: the server filters (status, order ID) and pages by
// cursor; nothing is filtered or sorted here, so it stays fast at a million invoices.
import { useQuery } from '@apollo/client/react';
import { graphql } from '../gql';
import type { InvoiceStatus } from '../gql/graphql';
import { messageOf } from '../errors';
import { useI18n } from '../i18n';
import { Pager } from '../ui/Pager';
import { StatusBadge } from '../ui/StatusBadge';
import { QueryProblem } from '../ui/QueryProblem';
import { TableScroll } from '../ui/TableScroll';
import { useKept } from '../ui/useKept';

/** Invoices a page: a keyset read of this many rows, whatever the page's depth. */
const PAGE_SIZE = 50;

const ConsoleInvoicesQuery = graphql(`
  query ConsoleInvoices($status: InvoiceStatus, $orderId: String, $first: Int!, $after: String) {
    invoices(status: $status, orderId: $orderId, first: $first, after: $after) {
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
        installment
        numberOfInstallments
        orderId
        account {
          id
          name
        }
      }
    }
  }
`);

interface InvoiceTableProps {
  status: InvoiceStatus;
  orderId: string | null;
  pages: (string | null)[];
  openId: string | null;
  onPages: (pages: (string | null)[]) => void;
  onOpen: (id: string) => void;
}

export function InvoiceTable({ status, orderId, pages, openId, onPages, onOpen }: InvoiceTableProps) {
  const { t, money, date } = useI18n();
  const after = pages[pages.length - 1] ?? null;
  const variables = { status, orderId, first: PAGE_SIZE, after };
  const { data, loading, error, refetch } = useQuery(ConsoleInvoicesQuery, {
    variables,
    fetchPolicy: 'cache-and-network',
    nextFetchPolicy: 'cache-first',
  });
  const page = useKept(data, JSON.stringify(variables))?.invoices;
  const statusWord = t(`status${status}`);
  const caption = orderId ? t('invoicesCaptionOrder', { status: statusWord, orderId }) : t('invoicesCaption', { status: statusWord });

  return (
    <>
      {error ? <QueryProblem message={messageOf(error)} onRetry={() => void refetch().catch(() => undefined)} /> : null}
      <TableScroll label={caption}>
        <table className="table" aria-busy={loading}>
          <caption className="visually-hidden">{caption}</caption>
          <thead>
            <tr>
              <th scope="col">{t('colInvoice')}</th>
              <th scope="col">{t('colAccount')}</th>
              <th scope="col" className="optional">
                {t('colOrder')}
              </th>
              <th scope="col" className="optional">
                {t('colInstallment')}
              </th>
              <th scope="col">{t('colDueDate')}</th>
              <th scope="col" className="num">
                {t('colValue')}
              </th>
              <th scope="col">{t('colStatus')}</th>
            </tr>
          </thead>
          <tbody>
            {page?.nodes.map((invoice) => (
              <tr key={invoice.id} className={invoice.id === openId ? 'is-open' : undefined}>
                <th scope="row">
                  <button
                    type="button"
                    className="link-button mono nowrap"
                    data-invoice={invoice.id}
                    aria-expanded={invoice.id === openId}
                    onClick={() => onOpen(invoice.id)}
                  >
                    {invoice.friendlyId}
                  </button>
                </th>
                <td>{invoice.account.name}</td>
                <td className="mono nowrap optional">{invoice.orderId}</td>
                <td className="optional">{t('installmentOf', { n: invoice.installment, total: invoice.numberOfInstallments })}</td>
                <td className="nowrap">{date(invoice.dueDate)}</td>
                <td className="num">{money(invoice.value, invoice.currency)}</td>
                <td>
                  <StatusBadge status={invoice.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      {page && page.nodes.length === 0 ? <p className="empty">{t('noInvoices')}</p> : null}
      {!page && loading ? (
        <p className="empty" role="status">
          {t('loading')}
        </p>
      ) : null}
      {page ? (
        <Pager
          stack={pages}
          pageSize={PAGE_SIZE}
          shown={page.nodes.length}
          total={page.totalCount}
          endCursor={page.pageInfo.endCursor}
          hasNextPage={page.pageInfo.hasNextPage}
          onChange={onPages}
        />
      ) : null}
    </>
  );
}
