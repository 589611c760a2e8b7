// Every import, newest first: when, which file, who, how (check, import, import the
// valid rows), how it ended, and its counts.
import { useQuery } from '@apollo/client/react';
import { useState } from 'react';
import { messageOf } from '../errors';
import { graphql } from '../gql';
import type { ImportFieldsFragment } from '../gql/graphql';
import { useI18n } from '../i18n';
import { QueryProblem } from '../ui/QueryProblem';
import { TableScroll } from '../ui/TableScroll';

const PAGE = 10;

const InvoiceImportsQuery = graphql(`
  query InvoiceImports($after: ID) {
    invoiceImports(first: 10, after: $after) {
      ...ImportFields
    }
  }
`);

export function ImportHistory() {
  const { t, dateTime, count } = useI18n();
  // The `after` ids of the pages visited; the last is the current page's.
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const after = pages[pages.length - 1] ?? null;
  const { data, error, refetch } = useQuery(InvoiceImportsQuery, {
    variables: { after },
    fetchPolicy: 'cache-and-network',
    nextFetchPolicy: 'cache-first',
  });
  const imports = data?.invoiceImports;
  const last = imports?.[imports.length - 1];

  function mode(entry: ImportFieldsFragment): string {
    if (entry.dryRun) return t('modeCheck');
    return entry.applyValidRows ? t('modeImportValid') : t('modeImport');
  }

  return (
    <section className="import-history" aria-labelledby="import-history-title">
      <h3 id="import-history-title">{t('importHistory')}</h3>
      {error ? <QueryProblem message={messageOf(error)} onRetry={() => void refetch().catch(() => undefined)} /> : null}
      {imports && imports.length === 0 && pages.length === 1 ? <p className="muted">{t('noImports')}</p> : null}
      {imports && imports.length > 0 ? (
        <TableScroll label={t('importHistory')}>
          <table className="table table-compact">
            <thead>
              <tr>
                <th scope="col">{t('colStarted')}</th>
                <th scope="col">{t('colFile')}</th>
                <th scope="col">{t('colBy')}</th>
                <th scope="col">{t('colMode')}</th>
                <th scope="col">{t('colState')}</th>
                <th scope="col">{t('colRows')}</th>
              </tr>
            </thead>
            <tbody>
              {imports.map((entry) => (
                <tr key={entry.id}>
                  <td className="nowrap">{dateTime(entry.startedAt)}</td>
                  <td className="break">{entry.fileName}</td>
                  <td className="break">{entry.actor}</td>
                  <td>{mode(entry)}</td>
                  <td>
                    <span className={`state state-${entry.state.toLowerCase()}`}>{t(`state${entry.state}`)}</span>
                  </td>
                  <td>
                    {t('rowsCell', {
                      changed: count(entry.rowsChanged),
                      unchanged: count(entry.rowsUnchanged),
                      refused: count(entry.rowsRefused),
                    })}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      ) : null}
      {pages.length > 1 || (imports && imports.length === PAGE) ? (
        <div className="button-row">
          <button type="button" className="button button-small" disabled={pages.length <= 1} onClick={() => setPages(pages.slice(0, -1))}>
            {t('newerImports')}
          </button>
          <button
            type="button"
            className="button button-small"
            disabled={!last || (imports?.length ?? 0) < PAGE}
            onClick={() => last && setPages([...pages, last.id])}
          >
            {t('olderImports')}
          </button>
        </div>
      ) : null}
    </section>
  );
}
