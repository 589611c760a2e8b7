// What an admin can do to the open invoice: mark it paid and cancel it (each confirmed
// in a dialog whose button repeats the action), set or remove its payment link,
// postpone it, change its observation. Every change sends the version read
// (`expectedVersion`), so a stale screen cannot overwrite someone else's change.
import { useMutation } from '@apollo/client/react';
import { useEffect, useId, useState, type FormEvent } from 'react';
import { graphql } from '../gql';
import type { InvoiceDetailsFieldsFragment } from '../gql/graphql';
import { useI18n } from '../i18n';
import { Dialog } from '../ui/Dialog';
import { useAction } from './action';

const MarkInvoicePaidMutation = graphql(`
  mutation MarkInvoicePaid($input: MarkInvoicePaidInput!) {
    markInvoicePaid(input: $input) {
      invoice {
        ...InvoiceDetailsFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

const CancelInvoiceMutation = graphql(`
  mutation CancelInvoice($input: CancelInvoiceInput!) {
    cancelInvoice(input: $input) {
      invoice {
        ...InvoiceDetailsFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

const SetPaymentLinkMutation = graphql(`
  mutation SetPaymentLink($input: SetPaymentLinkInput!) {
    setPaymentLink(input: $input) {
      invoice {
        ...InvoiceDetailsFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

const ChangeInvoiceMutation = graphql(`
  mutation ChangeInvoice($input: ChangeInvoiceInput!) {
    changeInvoice(input: $input) {
      invoice {
        ...InvoiceDetailsFields
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`);

/** A status change moves the invoice between tabs: the page and the totals follow. */
const LISTS = ['ConsoleInvoices', 'StatusTotals'];

type Invoice = InvoiceDetailsFieldsFragment;

interface ActionsProps {
  invoice: Invoice;
  today: string;
  onConflict: () => void;
  returnFocus: () => HTMLElement | null;
}

export function InvoiceActions({ invoice, today, onConflict, returnFocus }: ActionsProps) {
  const { t } = useI18n();
  const unpaid = invoice.status === 'OPEN' || invoice.status === 'OVERDUE';
  const [dialog, setDialog] = useState<'pay' | 'cancel' | 'removeLink' | null>(null);
  const close = () => setDialog(null);

  return (
    <section className="actions" aria-labelledby="actions-title">
      <h3 id="actions-title">{t('actions')}</h3>
      {unpaid ? (
        <div className="button-row">
          <button type="button" className="button button-primary" onClick={() => setDialog('pay')}>
            {t('markAsPaid')}
          </button>
          <button type="button" className="button button-danger" onClick={() => setDialog('cancel')}>
            {t('cancelInvoice')}
          </button>
        </div>
      ) : null}
      {unpaid ? <PaymentLinkForm invoice={invoice} onConflict={onConflict} onRemove={() => setDialog('removeLink')} /> : null}
      {unpaid ? <PostponeForm invoice={invoice} today={today} onConflict={onConflict} /> : null}
      <ObservationForm invoice={invoice} onConflict={onConflict} />

      {dialog === 'pay' ? <MarkPaidDialog invoice={invoice} onConflict={onConflict} onClose={close} returnFocus={returnFocus} /> : null}
      {dialog === 'cancel' ? <CancelDialog invoice={invoice} onConflict={onConflict} onClose={close} returnFocus={returnFocus} /> : null}
      {dialog === 'removeLink' ? (
        <RemoveLinkDialog invoice={invoice} onConflict={onConflict} onClose={close} returnFocus={returnFocus} />
      ) : null}
    </section>
  );
}

interface DialogActionProps {
  invoice: Invoice;
  onConflict: () => void;
  onClose: () => void;
  returnFocus: () => HTMLElement | null;
}

function GeneralErrors({ messages }: { messages: readonly string[] }) {
  if (messages.length === 0) return null;
  return (
    <div className="notice notice-error" role="alert">
      {messages.map((message) => (
        <p key={message}>{message}</p>
      ))}
    </div>
  );
}

function MarkPaidDialog({ invoice, onConflict, onClose, returnFocus }: DialogActionProps) {
  const { t, money } = useI18n();
  const [markPaid] = useMutation(MarkInvoicePaidMutation, { refetchQueries: LISTS });
  const conflict = () => {
    onClose();
    onConflict();
  };
  const action = useAction({ onConflict: conflict });

  async function confirm() {
    const done = await action.run(async () => {
      const { data } = await markPaid({ variables: { input: { id: invoice.id, expectedVersion: invoice.version } } });
      return data?.markInvoicePaid;
    });
    if (done) onClose();
  }

  return (
    <Dialog title={t('markAsPaid')} onClose={onClose} returnFocus={returnFocus}>
      <p>{t('markAsPaidQuestion', { id: invoice.friendlyId, value: money(invoice.value, invoice.currency) })}</p>
      <GeneralErrors messages={action.general} />
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose}>
          {t('goBack')}
        </button>
        <button
          type="button"
          className="button button-primary"
          data-autofocus
          disabled={action.state.status === 'saving'}
          onClick={() => void confirm()}
        >
          {t('markAsPaid')}
        </button>
      </div>
    </Dialog>
  );
}

function CancelDialog({ invoice, onConflict, onClose, returnFocus }: DialogActionProps) {
  const { t, money } = useI18n();
  const id = useId();
  const [reason, setReason] = useState('');
  const [cancel] = useMutation(CancelInvoiceMutation, { refetchQueries: LISTS });
  const conflict = () => {
    onClose();
    onConflict();
  };
  const action = useAction({ fields: ['reason'], onConflict: conflict });
  const reasonError = action.fieldError('reason');

  async function confirm(event: FormEvent) {
    event.preventDefault();
    const done = await action.run(async () => {
      const input = { id: invoice.id, expectedVersion: invoice.version, reason: reason.trim() || null };
      const { data } = await cancel({ variables: { input } });
      return data?.cancelInvoice;
    });
    if (done) onClose();
  }

  return (
    <Dialog title={t('cancelInvoice')} onClose={onClose} returnFocus={returnFocus}>
      <form className="stack" onSubmit={(event) => void confirm(event)} noValidate>
        <p>{t('cancelQuestion', { id: invoice.friendlyId, value: money(invoice.value, invoice.currency) })}</p>
        <div className="field">
          <label htmlFor={`${id}-reason`}>{t('reason')}</label>
          <textarea
            id={`${id}-reason`}
            rows={3}
            value={reason}
            data-autofocus
            onChange={(event) => setReason(event.target.value)}
            aria-invalid={reasonError ? true : undefined}
            aria-describedby={reasonError ? `${id}-reason-error` : undefined}
          />
          {reasonError ? (
            <p id={`${id}-reason-error`} className="field-error">
              {reasonError}
            </p>
          ) : null}
        </div>
        <GeneralErrors messages={action.general} />
        <div className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            {t('goBack')}
          </button>
          <button type="submit" className="button button-danger" disabled={action.state.status === 'saving'}>
            {t('cancelInvoice')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function RemoveLinkDialog({ invoice, onConflict, onClose, returnFocus }: DialogActionProps) {
  const { t } = useI18n();
  const [setLink] = useMutation(SetPaymentLinkMutation);
  const conflict = () => {
    onClose();
    onConflict();
  };
  const action = useAction({ onConflict: conflict });

  async function confirm() {
    const done = await action.run(async () => {
      const input = { id: invoice.id, expectedVersion: invoice.version, paymentLink: null };
      const { data } = await setLink({ variables: { input } });
      return data?.setPaymentLink;
    });
    if (done) onClose();
  }

  return (
    <Dialog title={t('removeLink')} onClose={onClose} returnFocus={returnFocus}>
      <p>{t('removeLinkQuestion', { id: invoice.friendlyId })}</p>
      <GeneralErrors messages={action.general} />
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose} data-autofocus>
          {t('goBack')}
        </button>
        <button
          type="button"
          className="button button-danger"
          disabled={action.state.status === 'saving'}
          onClick={() => void confirm()}
        >
          {t('removeLink')}
        </button>
      </div>
    </Dialog>
  );
}

interface FormProps {
  invoice: Invoice;
  onConflict: () => void;
}

/** "Saving…" / "Saved." beside a form's button. */
function SaveStatus({ status }: { status: string }) {
  const { t } = useI18n();
  return (
    <span role="status" className="save-status">
      {status === 'saving' ? t('saving') : status === 'saved' ? t('saved') : null}
    </span>
  );
}

function PaymentLinkForm({ invoice, onConflict, onRemove }: FormProps & { onRemove: () => void }) {
  const { t } = useI18n();
  const id = useId();
  const [draft, setDraft] = useState(invoice.paymentLink ?? '');
  const [setLink] = useMutation(SetPaymentLinkMutation);
  const action = useAction({ fields: ['paymentLink'], onConflict });
  const error = action.fieldError('paymentLink');

  // The link changed on the server (saved here, removed, or reloaded): show it.
  useEffect(() => setDraft(invoice.paymentLink ?? ''), [invoice.paymentLink]);

  async function save(event: FormEvent) {
    event.preventDefault();
    await action.run(async () => {
      const input = { id: invoice.id, expectedVersion: invoice.version, paymentLink: draft.trim() || null };
      const { data } = await setLink({ variables: { input } });
      return data?.setPaymentLink;
    });
  }

  return (
    <form className="action-form" onSubmit={(event) => void save(event)} noValidate>
      <div className="field">
        <label htmlFor={`${id}-link`}>{t('paymentLink')}</label>
        <input
          id={`${id}-link`}
          type="url"
          inputMode="url"
          autoComplete="off"
          spellCheck={false}
          placeholder="https://"
          value={draft}
          onChange={(event) => {
            setDraft(event.target.value);
            action.reset();
          }}
          aria-invalid={error ? true : undefined}
          aria-describedby={`${id}-link-hint${error ? ` ${id}-link-error` : ''}`}
        />
        <p id={`${id}-link-hint`} className="hint">
          {t('paymentLinkHint')}
        </p>
        {error ? (
          <p id={`${id}-link-error`} className="field-error">
            {error}
          </p>
        ) : null}
      </div>
      <GeneralErrors messages={action.general} />
      <div className="button-row">
        <button type="submit" className="button" disabled={action.state.status === 'saving'}>
          {t('saveLink')}
        </button>
        {invoice.paymentLink ? (
          <button type="button" className="button button-quiet" onClick={onRemove}>
            {t('removeLink')}
          </button>
        ) : null}
        <SaveStatus status={action.state.status} />
      </div>
    </form>
  );
}

function PostponeForm({ invoice, today, onConflict }: FormProps & { today: string }) {
  const { t } = useI18n();
  const id = useId();
  const [draft, setDraft] = useState(invoice.dueDate);
  const [change] = useMutation(ChangeInvoiceMutation, { refetchQueries: LISTS });
  const action = useAction({ fields: ['dueDate'], onConflict });
  const error = action.fieldError('dueDate');

  useEffect(() => setDraft(invoice.dueDate), [invoice.dueDate]);

  async function save(event: FormEvent) {
    event.preventDefault();
    await action.run(async () => {
      const input = { id: invoice.id, expectedVersion: invoice.version, dueDate: draft };
      const { data } = await change({ variables: { input } });
      return data?.changeInvoice;
    });
  }

  return (
    <form className="action-form" onSubmit={(event) => void save(event)} noValidate>
      <div className="field">
        <label htmlFor={`${id}-due`}>{t('newDueDate')}</label>
        <input
          id={`${id}-due`}
          type="date"
          min={today}
          value={draft}
          onChange={(event) => {
            setDraft(event.target.value);
            action.reset();
          }}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-due-error` : undefined}
        />
        {error ? (
          <p id={`${id}-due-error`} className="field-error">
            {error}
          </p>
        ) : null}
      </div>
      <GeneralErrors messages={action.general} />
      <div className="button-row">
        <button type="submit" className="button" disabled={action.state.status === 'saving' || !draft}>
          {t('postpone')}
        </button>
        <SaveStatus status={action.state.status} />
      </div>
    </form>
  );
}

function ObservationForm({ invoice, onConflict }: FormProps) {
  const { t } = useI18n();
  const id = useId();
  const [draft, setDraft] = useState(invoice.observation ?? '');
  const [change] = useMutation(ChangeInvoiceMutation);
  const action = useAction({ fields: ['observation'], onConflict });
  const error = action.fieldError('observation');

  useEffect(() => setDraft(invoice.observation ?? ''), [invoice.observation]);

  async function save(event: FormEvent) {
    event.preventDefault();
    await action.run(async () => {
      const input = { id: invoice.id, expectedVersion: invoice.version, observation: draft.trim() ? draft : null };
      const { data } = await change({ variables: { input } });
      return data?.changeInvoice;
    });
  }

  return (
    <form className="action-form" onSubmit={(event) => void save(event)} noValidate>
      <div className="field">
        <label htmlFor={`${id}-observation`}>{t('observation')}</label>
        <textarea
          id={`${id}-observation`}
          rows={3}
          value={draft}
          onChange={(event) => {
            setDraft(event.target.value);
            action.reset();
          }}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-observation-error` : undefined}
        />
        {error ? (
          <p id={`${id}-observation-error`} className="field-error">
            {error}
          </p>
        ) : null}
      </div>
      <GeneralErrors messages={action.general} />
      <div className="button-row">
        <button type="submit" className="button" disabled={action.state.status === 'saving'}>
          {t('saveObservation')}
        </button>
        <SaveStatus status={action.state.status} />
      </div>
    </form>
  );
}
