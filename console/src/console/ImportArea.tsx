// IMPORT: drop (or choose) a CSV, see it checked by a dry run (every refused row with
// its line, column and message), then "Import file" to apply it.
//
// A large file comes back RUNNING: its progress is followed with `invoiceImport(id)`
// once a second, and the id is kept in sessionStorage, so a reload picks the import
// up where it stands.
import { useApolloClient, useMutation } from '@apollo/client/react';
import { useEffect, useId, useState, type DragEvent } from 'react';
import { messageOf } from '../errors';
import { graphql } from '../gql';
import type { ImportFieldsFragment } from '../gql/graphql';
import { useI18n } from '../i18n';
import { readSession, writeSession } from '../persist';
import { ImportHistory } from './ImportHistory';
import { TableScroll } from '../ui/TableScroll';

graphql(`
  fragment ImportFields on InvoiceImport {
    id
    fileName
    actor
    startedAt
    finishedAt
    dryRun
    applyValidRows
    state
    rowsTotal
    rowsRead
    rowsChanged
    rowsUnchanged
    rowsRefused
    problem
  }
`);

const ImportInvoicesCsvMutation = graphql(`
  mutation ImportInvoicesCsv($input: ImportInvoicesCsvInput!) {
    importInvoicesCsv(input: $input) {
      import {
        ...ImportFields
        errors(first: 500) {
          line
          column
          code
          message
        }
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

const ImportProgressQuery = graphql(`
  query ImportProgress($id: ID!) {
    invoiceImport(id: $id) {
      ...ImportFields
    }
  }
`);

const ImportErrorsQuery = graphql(`
  query ImportErrors($id: ID!, $afterLine: Int) {
    invoiceImport(id: $id) {
      id
      errors(first: 500, afterLine: $afterLine) {
        line
        column
        code
        message
      }
    }
  }
`);

const ERRORS_PAGE = 500;
const POLL_MS = 1000;
const RUNNING_KEY = 'cg.import';

interface RowError {
  line: number;
  column?: string | null;
  code: string;
  message: string;
}

interface Job {
  id: string | null;
  fileName: string;
  dryRun: boolean;
  applyValidRows: boolean;
}

type Phase =
  | { kind: 'idle' }
  | { kind: 'sending'; job: Job }
  | { kind: 'running'; job: Job; progress: ImportFieldsFragment | null }
  | { kind: 'done'; job: Job; result: ImportFieldsFragment; errors: RowError[] }
  | { kind: 'refused'; job: Job; messages: string[] };

export function hasRunningImport(): boolean {
  return readSession<Job>(RUNNING_KEY) !== null;
}

function initialPhase(): Phase {
  const job = readSession<Job>(RUNNING_KEY);
  return job?.id ? { kind: 'running', job, progress: null } : { kind: 'idle' };
}

export function ImportArea({ id }: { id: string }) {
  const { t } = useI18n();
  const client = useApolloClient();
  const [phase, setPhase] = useState<Phase>(initialPhase);
  const [file, setFile] = useState<File | null>(null);
  const [applyValidRows, setApplyValidRows] = useState(false);
  const [upload] = useMutation(ImportInvoicesCsvMutation);
  const busy = phase.kind === 'sending' || phase.kind === 'running';

  async function start(chosen: File, dryRun: boolean) {
    const job: Job = { id: null, fileName: chosen.name, dryRun, applyValidRows: dryRun ? false : applyValidRows };
    setPhase({ kind: 'sending', job });
    try {
      const { data } = await upload({
        variables: { input: { file: chosen, dryRun, applyValidRows: job.applyValidRows } },
        // A multipart request is one a foreign page could send: the gateway wants
        // proof it is not (see the README, "Requests a browser could forge").
        context: { headers: { 'Apollo-Require-Preflight': 'true' } },
      });
      const payload = data?.importInvoicesCsv;
      const started = payload?.import;
      if (payload && payload.userErrors.length > 0) {
        setPhase({ kind: 'refused', job, messages: payload.userErrors.map((error) => error.message) });
      } else if (!started) {
        setPhase({ kind: 'refused', job, messages: [t('failedSummary', { name: job.fileName })] });
      } else if (started.state === 'RUNNING') {
        const running = { ...job, id: started.id };
        writeSession(RUNNING_KEY, running);
        setPhase({ kind: 'running', job: running, progress: started });
        void client.refetchQueries({ include: ['InvoiceImports'] }).catch(() => undefined);
      } else {
        finish({ ...job, id: started.id }, started, started.errors);
      }
    } catch (error) {
      setPhase({ kind: 'refused', job, messages: [messageOf(error as Error)] });
    }
  }

  function finish(job: Job, result: ImportFieldsFragment, errors: RowError[]) {
    writeSession(RUNNING_KEY, null);
    setPhase({ kind: 'done', job, result, errors });
    const include = ['InvoiceImports'];
    if (!job.dryRun) include.push('ConsoleInvoices', 'StatusTotals');
    void client.refetchQueries({ include }).catch(() => undefined);
  }

  // Follow a running import until it finishes, then fetch its refused rows.
  const runningId = phase.kind === 'running' ? phase.job.id : null;
  useEffect(() => {
    if (phase.kind !== 'running' || !runningId) return;
    const job = phase.job;
    let stopped = false;
    let timer = 0;
    const poll = async () => {
      try {
        const { data } = await client.query({
          query: ImportProgressQuery,
          variables: { id: runningId },
          fetchPolicy: 'network-only',
        });
        const progress = data?.invoiceImport;
        if (stopped) return;
        if (!progress) {
          writeSession(RUNNING_KEY, null);
          setPhase({ kind: 'idle' });
          return;
        }
        if (progress.state !== 'RUNNING') {
          const errors = progress.rowsRefused > 0 || progress.state === 'FAILED' ? await fetchErrors(runningId, null) : [];
          if (!stopped) finish(job, progress, errors);
          return;
        }
        setPhase({ kind: 'running', job, progress });
      } catch {
        // Unreachable for a moment: the banner says so; keep following.
      }
      if (!stopped) timer = window.setTimeout(() => void poll(), POLL_MS);
    };
    timer = window.setTimeout(() => void poll(), POLL_MS);
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
    // Restarted for another import only, not for each progress report.
  }, [runningId]);

  async function fetchErrors(importId: string, afterLine: number | null): Promise<RowError[]> {
    const { data } = await client.query({
      query: ImportErrorsQuery,
      variables: { id: importId, afterLine },
      fetchPolicy: 'network-only',
    });
    return data?.invoiceImport?.errors ?? [];
  }

  async function showMoreErrors() {
    if (phase.kind !== 'done') return;
    const last = phase.errors[phase.errors.length - 1];
    try {
      const more = await fetchErrors(phase.result.id, last ? last.line : null);
      setPhase({ ...phase, errors: [...phase.errors, ...more] });
    } catch {
      // The banner or the next attempt tells.
    }
  }

  function choose(chosen: File) {
    setFile(chosen);
    setApplyValidRows(false);
    void start(chosen, true);
  }

  return (
    <section id={id} className="card import" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{t('importTitle')}</h2>
      <p className="muted">{t('importIntro')}</p>
      <DropZone disabled={busy} onFile={choose} />
      <div aria-live="polite">
        <ImportPhase
          phase={phase}
          file={file}
          applyValidRows={applyValidRows}
          onApplyValidRows={setApplyValidRows}
          onImport={() => file && void start(file, false)}
          onMoreErrors={() => void showMoreErrors()}
        />
      </div>
      <ImportHistory />
    </section>
  );
}

function DropZone({ disabled, onFile }: { disabled: boolean; onFile: (file: File) => void }) {
  const { t } = useI18n();
  const [over, setOver] = useState(false);

  function drop(event: DragEvent) {
    event.preventDefault();
    setOver(false);
    const dropped = event.dataTransfer.files[0];
    if (dropped && !disabled) onFile(dropped);
  }

  return (
    <label
      className={`dropzone${over ? ' is-over' : ''}${disabled ? ' is-disabled' : ''}`}
      onDragOver={(event) => {
        event.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={drop}
    >
      {/* A real file input, keyboard reachable; the whole zone is its label. */}
      <input
        type="file"
        className="dropzone-input"
        accept=".csv,text/csv,.xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        disabled={disabled}
        onChange={(event) => {
          const chosen = event.target.files?.[0];
          event.target.value = '';
          if (chosen) onFile(chosen);
        }}
      />
      <span className="dropzone-icon" aria-hidden="true">
        ⇪
      </span>
      <span className="dropzone-text">{t('dropZone')}</span>
    </label>
  );
}

interface ImportPhaseProps {
  phase: Phase;
  file: File | null;
  applyValidRows: boolean;
  onApplyValidRows: (apply: boolean) => void;
  onImport: () => void;
  onMoreErrors: () => void;
}

function ImportPhase({ phase, file, applyValidRows, onApplyValidRows, onImport, onMoreErrors }: ImportPhaseProps) {
  const { t, count } = useI18n();
  const checkboxId = useId();
  const progressId = useId();

  switch (phase.kind) {
    case 'idle':
      return null;
    case 'sending':
    case 'running': {
      const progress = phase.kind === 'running' ? phase.progress : null;
      const total = progress?.rowsTotal ?? null;
      const read = progress?.rowsRead ?? 0;
      return (
        <div className="import-progress">
          <p id={progressId}>{t(phase.job.dryRun ? 'checking' : 'importing', { name: phase.job.fileName })}</p>
          <progress aria-labelledby={progressId} max={total ?? undefined} value={total ? read : undefined} />
          {progress ? (
            <p className="muted">
              {total ? t('rowsProgress', { read: count(read), total: count(total) }) : t('rowsRead', { read: count(read) })}
            </p>
          ) : null}
        </div>
      );
    }
    case 'refused':
      return (
        <div className="notice notice-error" role="alert">
          <p>{t('failedSummary', { name: phase.job.fileName })}</p>
          {phase.messages.map((message) => (
            <p key={message}>{message}</p>
          ))}
        </div>
      );
    case 'done': {
      const { result, errors, job } = phase;
      const sameFile = file !== null && file.name === job.fileName;
      const canImport = result.state === 'CHECKED' && sameFile;
      const refused = result.rowsRefused;
      return (
        <div className="import-result">
          <ResultSummary result={result} />
          {result.problem && (errors.length === 0 || errors[0]?.message !== result.problem) ? (
            <p className="notice notice-error">{result.problem}</p>
          ) : null}
          {errors.length > 0 ? (
            <RefusedRows errors={errors} more={errors.length < refused && errors.length % ERRORS_PAGE === 0} onMore={onMoreErrors} />
          ) : null}
          {result.state === 'CHECKED' && !sameFile ? <p className="muted">{t('chooseAgain')}</p> : null}
          {canImport ? (
            <div className="stack">
              {refused > 0 ? (
                <div className="checkbox">
                  <input
                    id={checkboxId}
                    type="checkbox"
                    checked={applyValidRows}
                    onChange={(event) => onApplyValidRows(event.target.checked)}
                  />
                  <label htmlFor={checkboxId}>{t('applyValidRows')}</label>
                  {applyValidRows ? null : <p className="hint">{t('allOrNothing')}</p>}
                </div>
              ) : null}
              <div className="button-row">
                <button type="button" className="button button-primary" onClick={onImport}>
                  {t('importFile')}
                </button>
              </div>
            </div>
          ) : null}
        </div>
      );
    }
  }
}

function ResultSummary({ result }: { result: ImportFieldsFragment }) {
  const { t, count } = useI18n();
  const values = {
    name: result.fileName,
    rows: count(result.rowsTotal ?? result.rowsRead),
    changed: count(result.rowsChanged),
    unchanged: count(result.rowsUnchanged),
    refused: count(result.rowsRefused),
  };
  const key = {
    RUNNING: 'checking',
    CHECKED: 'checkSummary',
    APPLIED: 'appliedSummary',
    REJECTED: 'rejectedSummary',
    FAILED: 'failedSummary',
    INTERRUPTED: 'interruptedSummary',
  } as const;
  const tone = result.state === 'APPLIED' || (result.state === 'CHECKED' && result.rowsRefused === 0) ? 'success' : 'warning';
  return <p className={`notice notice-${tone}`}>{t(key[result.state], values)}</p>;
}

function RefusedRows({ errors, more, onMore }: { errors: RowError[]; more: boolean; onMore: () => void }) {
  const { t } = useI18n();
  return (
    <div className="refused">
      <TableScroll label={t('refusedRows')} className="refused-scroll">
        <table className="table table-compact">
          <caption>{t('refusedRows')}</caption>
          <thead>
            <tr>
              <th scope="col" className="num">
                {t('colLine')}
              </th>
              <th scope="col">{t('colColumn')}</th>
              <th scope="col">{t('colProblem')}</th>
            </tr>
          </thead>
          <tbody>
            {errors.map((error, index) => (
              <tr key={`${error.line}-${index}`}>
                <td className="num">{error.line > 0 ? error.line : '—'}</td>
                <td>{error.column ?? '—'}</td>
                <td>
                  {error.message} <span className="muted mono">{error.code}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      {more ? (
        <button type="button" className="button button-small" onClick={onMore}>
          {t('moreRefused')}
        </button>
      ) : null}
    </div>
  );
}
