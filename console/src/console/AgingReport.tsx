// The receivables aging panel: unpaid invoices by days past due today, per currency, as a
// small table with a bar per bucket, and the accounts most past due. Amounts stay decimal
// strings: the bars' lengths are ratios computed on integers (BigInt), never floats.
import { useQuery } from '@apollo/client/react';
import { useState } from 'react';
import { getToken } from '../auth';
import { messageOf } from '../errors';
import { graphql } from '../gql';
import { useI18n } from '../i18n';
import type { MessageKey } from '../messages';

const AgingQuery = graphql(`
  query ReceivablesAging {
    receivablesAging {
      asOf
      currencies {
        currency
        notDue { count value }
        days1To30 { count value }
        days31To60 { count value }
        days61To90 { count value }
        over90 { count value }
        total { count value }
        mostOverdueAccounts {
          accountId
          account { id name }
          count
          value
        }
      }
    }
  }
`);

const BUCKETS = [
  ['notDue', 'agingNotDue'],
  ['days1To30', 'aging1To30'],
  ['days31To60', 'aging31To60'],
  ['days61To90', 'aging61To90'],
  ['over90', 'agingOver90'],
] as const satisfies readonly (readonly [string, MessageKey])[];

/** A decimal string as an integer of ten-thousandths (money has at most four places). */
function units(value: string): bigint {
  const [whole, fraction = ''] = value.replace('-', '').split('.');
  return BigInt(whole || '0') * 10000n + BigInt((fraction + '0000').slice(0, 4));
}

/** `value` as a percentage of `max`, to a tenth, for a bar's width. */
function share(value: string, max: bigint): string {
  if (max === 0n) return '0%';
  const tenths = (units(value) * 1000n) / max;
  return `${tenths / 10n}.${tenths % 10n}%`;
}

export function AgingReport({ id }: { id: string }) {
  const { t, money, count, date } = useI18n();
  const { data, error, loading } = useQuery(AgingQuery, { fetchPolicy: 'cache-and-network' });
  const report = data?.receivablesAging;
  return (
    <section id={id} className="card panel aging" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>{t('agingTitle')}</h2>
        <span className="toolbar-actions">
          <DownloadButton path="/export/aging.csv" label={t('agingCsv')} />
          <DownloadButton path="/export/aging.xlsx" label={t('agingXlsx')} />
        </span>
      </div>
      {error ? <p className="notice">{messageOf(error)}</p> : null}
      {loading && !report ? <p>{t('loading')}</p> : null}
      {report && report.currencies.length === 0 ? <p>{t('agingNothing')}</p> : null}
      {report?.currencies.map((currency) => {
        const max = BUCKETS.reduce((most, [key]) => {
          const value = units(currency[key].value);
          return value > most ? value : most;
        }, 0n);
        return (
          <div key={currency.currency} className="aging-currency">
            <table className="aging-table">
              <caption>
                {t('agingCaption', { currency: currency.currency, date: date(report.asOf) })}
              </caption>
              <thead>
                <tr>
                  <th scope="col">{t('agingBucket')}</th>
                  <th scope="col" className="num">{t('agingCount')}</th>
                  <th scope="col" className="num">{t('agingValue')}</th>
                  <th scope="col"><span className="visually-hidden">{t('agingBar')}</span></th>
                </tr>
              </thead>
              <tbody>
                {BUCKETS.map(([key, label]) => (
                  <tr key={key} data-bucket={key}>
                    <th scope="row">{t(label)}</th>
                    <td className="num">{count(currency[key].count)}</td>
                    <td className="num">{money(currency[key].value, currency.currency)}</td>
                    <td className="aging-bar-cell" aria-hidden="true">
                      <span
                        className={`aging-bar aging-bar-${key}`}
                        style={{ width: share(currency[key].value, max) }}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
              <tfoot>
                <tr>
                  <th scope="row">{t('agingTotal')}</th>
                  <td className="num">{count(currency.total.count)}</td>
                  <td className="num">{money(currency.total.value, currency.currency)}</td>
                  <td />
                </tr>
              </tfoot>
            </table>
            {currency.mostOverdueAccounts.length > 0 ? (
              <div className="aging-accounts">
                <h3>{t('agingMostOverdue')}</h3>
                <ol>
                  {currency.mostOverdueAccounts.map((account) => (
                    <li key={account.accountId}>
                      <span>{account.account?.name ?? account.accountId}</span>{' '}
                      <span className="muted">
                        {money(account.value, currency.currency)} ·{' '}
                        {t(account.count === 1 ? 'invoicesOne' : 'invoicesOther', {
                          count: count(account.count),
                        })}
                      </span>
                    </li>
                  ))}
                </ol>
              </div>
            ) : null}
          </div>
        );
      })}
    </section>
  );
}

/** Fetches a report file with the session's token and hands it to the browser. */
function DownloadButton({ path, label }: { path: string; label: string }) {
  const [problem, setProblem] = useState<string | null>(null);
  async function download() {
    setProblem(null);
    try {
      const response = await fetch(path, { headers: { authorization: `Bearer ${getToken() ?? ''}` } });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'aging';
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      URL.revokeObjectURL(url);
    } catch (error) {
      setProblem(messageOf(error as Error));
    }
  }
  return (
    <>
      <button type="button" className="button" onClick={() => void download()}>
        {label}
      </button>
      {problem ? <span className="field-error">{problem}</span> : null}
    </>
  );
}
