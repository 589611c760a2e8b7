// /console: the Invoices screen. Status tabs with live totals, an order-ID search, one
// page of invoices at a time (server-side filter, cursor paging), the open invoice's
// details beside the list, EXPORT and IMPORT.
//
// The view (tab, search, page, open invoice) is kept in sessionStorage, so a reload or
// a new sign-in brings back exactly what was on screen.
import { useApolloClient, useQuery } from '@apollo/client/react';
import { useEffect, useRef, useState } from 'react';
import { graphql } from '../gql';
import type { CsvDelimiter, InvoiceStatus } from '../gql/graphql';
import { useI18n } from '../i18n';
import { useLiveChanges } from '../live';
import { useSessionState } from '../persist';
import { useKept } from '../ui/useKept';
import { AgingReport } from './AgingReport';
import { ExportButton } from './ExportButton';
import { ImportArea, hasRunningImport } from './ImportArea';
import { InvoiceDetails } from './InvoiceDetails';
import { InvoiceTable } from './InvoiceTable';
import { StatusTabs } from './StatusTabs';

const StatusTotalsQuery = graphql(`
  query StatusTotals($orderId: String) {
    statusChangeCursor
    invoiceStatusTotals(orderId: $orderId) {
      status
      count
      value {
        amount
        currency
      }
    }
  }
`);

export interface ConsoleView {
  status: InvoiceStatus;
  orderId: string;
  /** `after` cursors of the pages visited, the current page's last. */
  pages: (string | null)[];
  openId: string | null;
  importOpen: boolean;
  agingOpen?: boolean;
  delimiter: CsvDelimiter;
}

function initialView(language: string): ConsoleView {
  return {
    status: 'OPEN',
    orderId: '',
    pages: [null],
    openId: null,
    importOpen: hasRunningImport(),
    // Spreadsheets where the decimal separator is a comma expect `;`.
    delimiter: language === 'en' ? 'COMMA' : 'SEMICOLON',
  };
}

export function ConsolePage() {
  const { t, language } = useI18n();
  const client = useApolloClient();
  const [view, setView] = useSessionState<ConsoleView>('cg.console', () => initialView(language));
  const orderId = view.orderId || null;
  const [focusDetails, setFocusDetails] = useState(false);

  const totals = useQuery(StatusTotalsQuery, {
    variables: { orderId },
    fetchPolicy: 'cache-and-network',
    nextFetchPolicy: 'cache-first',
  });
  const totalsData = useKept(totals.data, orderId ?? '');

  // Someone changed invoices: the rows in the cache are already current; refetch what
  // depends on membership (the page, the totals) and the open invoice's history.
  useLiveChanges(totalsData?.statusChangeCursor, (ids) => {
    const include = ['ConsoleInvoices', 'StatusTotals'];
    if (view.openId && (ids.size === 0 || ids.has(view.openId))) include.push('InvoiceDetails');
    void client.refetchQueries({ include }).catch(() => undefined);
  });

  return (
    <div className="console">
      <div className="toolbar">
        <OrderSearch
          value={view.orderId}
          onSearch={(next) => setView((v) => (v.orderId === next ? v : { ...v, orderId: next, pages: [null] }))}
        />
        <div className="toolbar-actions">
          <label className="inline-field">
            <span>{t('separator')}</span>
            <select
              value={view.delimiter}
              onChange={(event) => setView((v) => ({ ...v, delimiter: event.target.value as CsvDelimiter }))}
            >
              <option value="COMMA">{t('comma')}</option>
              <option value="SEMICOLON">{t('semicolon')}</option>
            </select>
          </label>
          <ExportButton status={view.status} orderId={orderId} delimiter={view.delimiter} />
          <ExportButton status={view.status} orderId={orderId} delimiter={view.delimiter} workbook />
          <button
            type="button"
            className="button"
            aria-expanded={view.agingOpen ?? false}
            aria-controls="aging-report"
            onClick={() => setView((v) => ({ ...v, agingOpen: !v.agingOpen }))}
          >
            {t('aging')}
          </button>
          <button
            type="button"
            className="button"
            aria-expanded={view.importOpen}
            aria-controls="import-area"
            onClick={() => setView((v) => ({ ...v, importOpen: !v.importOpen }))}
          >
            {t('import')}
          </button>
        </div>
      </div>

      {view.importOpen ? <ImportArea id="import-area" /> : null}
      {view.agingOpen ? <AgingReport id="aging-report" /> : null}

      <StatusTabs
        selected={view.status}
        totals={totalsData?.invoiceStatusTotals}
        onSelect={(status) => setView((v) => ({ ...v, status, pages: [null] }))}
      />

      <div className={view.openId ? 'workspace workspace-split' : 'workspace'}>
        <div role="tabpanel" id="invoice-panel" aria-labelledby={`tab-${view.status}`} className="card panel">
          <InvoiceTable
            status={view.status}
            orderId={orderId}
            pages={view.pages}
            openId={view.openId}
            onPages={(pages) => setView((v) => ({ ...v, pages }))}
            onOpen={(id) => {
              setFocusDetails(true);
              setView((v) => ({ ...v, openId: id }));
            }}
          />
        </div>
        {view.openId ? (
          <InvoiceDetails
            id={view.openId}
            focusOnOpen={focusDetails}
            onClose={() => {
              const id = view.openId;
              setView((v) => ({ ...v, openId: null }));
              // Back to the row it was opened from, when it is still on the page.
              requestAnimationFrame(() => document.querySelector<HTMLElement>(`[data-invoice="${CSS.escape(id ?? '')}"]`)?.focus());
            }}
          />
        ) : null}
      </div>
    </div>
  );
}

/** The order-ID search: applied as you type (after a pause) or on Enter. */
function OrderSearch({ value, onSearch }: { value: string; onSearch: (orderId: string) => void }) {
  const { t } = useI18n();
  const [text, setText] = useState(value);

  const onSearchRef = useRef(onSearch);
  onSearchRef.current = onSearch;

  useEffect(() => setText(value), [value]);
  useEffect(() => {
    const timer = window.setTimeout(() => onSearchRef.current(text.trim()), 400);
    return () => window.clearTimeout(timer);
  }, [text]);

  return (
    <form
      role="search"
      className="search"
      onSubmit={(event) => {
        event.preventDefault();
        onSearch(text.trim());
      }}
    >
      <label htmlFor="order-id">{t('orderId')}</label>
      <input id="order-id" type="search" value={text} onChange={(event) => setText(event.target.value)} autoComplete="off" spellCheck={false} />
      <button type="submit" className="button">
        {t('search')}
      </button>
    </form>
  );
}
