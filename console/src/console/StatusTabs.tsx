// The four status tabs. Each tab's accessible name is exactly its status word ("Open");
// its live count and sum are its description (aria-describedby). Arrow keys, Home and
// End move between tabs, as the ARIA tabs pattern has it.
import { useRef, type KeyboardEvent } from 'react';
import type { InvoiceStatus } from '../gql/graphql';
import { useI18n } from '../i18n';

export const STATUSES: readonly InvoiceStatus[] = ['OPEN', 'PAID', 'CANCELLED', 'OVERDUE'];

interface Total {
  status: InvoiceStatus;
  count: number;
  value: readonly { amount: string; currency: string }[];
}

interface StatusTabsProps {
  selected: InvoiceStatus;
  totals: readonly Total[] | undefined;
  onSelect: (status: InvoiceStatus) => void;
}

export function StatusTabs({ selected, totals, onSelect }: StatusTabsProps) {
  const { t, money, invoices } = useI18n();
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);

  function onKeyDown(event: KeyboardEvent) {
    const index = STATUSES.indexOf(selected);
    const target = {
      ArrowRight: (index + 1) % STATUSES.length,
      ArrowLeft: (index + STATUSES.length - 1) % STATUSES.length,
      Home: 0,
      End: STATUSES.length - 1,
    }[event.key];
    const status = target === undefined ? undefined : STATUSES[target];
    if (target === undefined || !status) return;
    event.preventDefault();
    onSelect(status);
    tabs.current[target]?.focus();
  }

  return (
    <div className="tabs" role="tablist" aria-label={t('statusTabs')} onKeyDown={onKeyDown}>
      {STATUSES.map((status, index) => {
        const total = totals?.find((entry) => entry.status === status);
        const isSelected = status === selected;
        return (
          // The tab's name is exactly its status word; the count and sum shown under
          // it are outside the button (a name must contain all of a control's visible
          // text) and describe it. The button covers the whole card (CSS).
          <div key={status} className={`tab-card tab-${status.toLowerCase()}`}>
            <button
              ref={(element) => {
                tabs.current[index] = element;
              }}
              type="button"
              role="tab"
              id={`tab-${status}`}
              className="tab"
              aria-selected={isSelected}
              aria-controls="invoice-panel"
              aria-describedby={`tab-${status}-total`}
              tabIndex={isSelected ? 0 : -1}
              onClick={() => onSelect(status)}
            >
              {t(`status${status}`)}
            </button>
            <span id={`tab-${status}-total`} className="tab-total">
              {total ? (
                <>
                  <span className="tab-count">{invoices(total.count)}</span>
                  {total.value.length > 0 ? <span className="visually-hidden">, </span> : null}
                  {total.value.length > 0 ? (
                    <span className="tab-sum">{total.value.map((v) => money(v.amount, v.currency)).join(' + ')}</span>
                  ) : null}
                </>
              ) : (
                '…'
              )}
            </span>
          </div>
        );
      })}
    </div>
  );
}
