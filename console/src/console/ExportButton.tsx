// EXPORT (CSV or .xlsx): asks the gateway for a short-lived download link of the current filter
// (`invoiceExportUrl`: a bearer header cannot ride on a browser download) and lets the
// browser download it.
import { useApolloClient } from '@apollo/client/react';
import { useState } from 'react';
import { messageOf } from '../errors';
import { graphql } from '../gql';
import type { CsvDelimiter, InvoiceStatus } from '../gql/graphql';
import { useI18n } from '../i18n';

const ExportUrlQuery = graphql(`
  query ExportUrl($status: InvoiceStatus, $orderId: String, $delimiter: CsvDelimiter!) {
    invoiceExportUrl(status: $status, orderId: $orderId, delimiter: $delimiter)
  }
`);

interface ExportButtonProps {
  status: InvoiceStatus;
  orderId: string | null;
  delimiter: CsvDelimiter;
  /** A workbook (`.xlsx`) instead of CSV: the same link's token opens both. */
  workbook?: boolean;
}

export function ExportButton({ status, orderId, delimiter, workbook = false }: ExportButtonProps) {
  const { t } = useI18n();
  const client = useApolloClient();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  async function exportCsv() {
    setBusy(true);
    setProblem(null);
    try {
      const { data } = await client.query({
        query: ExportUrlQuery,
        variables: { status, orderId, delimiter },
        fetchPolicy: 'no-cache',
      });
      const link = data?.invoiceExportUrl;
      if (link) download(workbook ? link.replace('/export/invoices.csv?', '/export/invoices.xlsx?') : link);
    } catch (error) {
      setProblem(messageOf(error as Error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <span className="export">
      <button type="button" className="button" onClick={() => void exportCsv()} disabled={busy}>
        {t(workbook ? 'exportWorkbook' : 'export')}
      </button>
      <span role="status" className="export-status">
        {busy ? t('preparingExport') : problem ? <span className="field-error">{problem}</span> : null}
      </span>
    </span>
  );
}

/** Follows a download link of this gateway (and nothing else) with a plain <a download>. */
function download(href: string): void {
  const url = new URL(href, location.href);
  if (url.origin !== location.origin) return;
  const link = document.createElement('a');
  link.href = url.href;
  link.download = '';
  document.body.append(link);
  link.click();
  link.remove();
}
