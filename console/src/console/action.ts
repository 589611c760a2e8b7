// Running one invoice change and sorting what the gateway says back: `userErrors` go
// next to the field they name (the last segment of `field`, e.g. "paymentLink"), the
// rest above the form; VERSION_CONFLICT means someone else changed the invoice since
// we read it, which the details panel answers with "reload".
import { useState } from 'react';
import { messageOf } from '../errors';

export interface UserErrorLike {
  field?: readonly string[] | null;
  message: string;
  code: string;
}

export interface Refusal {
  /** Messages by input field name ("paymentLink", "reason", "dueDate", ...). */
  fields: Record<string, string>;
  /** Messages that name no field of the form. */
  general: string[];
}

export type ActionState =
  | { status: 'idle' }
  | { status: 'saving' }
  | { status: 'saved' }
  | { status: 'refused'; refusal: Refusal };

export function sortUserErrors(errors: readonly UserErrorLike[], formFields: readonly string[]): Refusal {
  const refusal: Refusal = { fields: {}, general: [] };
  for (const error of errors) {
    const field = error.field?.[error.field.length - 1];
    if (field && formFields.includes(field)) refusal.fields[field] = error.message;
    else refusal.general.push(error.message);
  }
  return refusal;
}

interface Options {
  /** The input fields this form shows, where their errors go. */
  fields?: readonly string[];
  onConflict: () => void;
}

/**
 * `run(perform)` performs a mutation and says whether it went through. While it runs,
 * `state` is "saving"; then "saved" or "refused" (with the sorted errors). A version
 * conflict is handed to `onConflict` instead.
 */
export function useAction({ fields = [], onConflict }: Options) {
  const [state, setState] = useState<ActionState>({ status: 'idle' });

  async function run(perform: () => Promise<{ userErrors: readonly UserErrorLike[] } | null | undefined>) {
    setState({ status: 'saving' });
    try {
      const outcome = await perform();
      const errors = outcome?.userErrors ?? [];
      if (errors.some((error) => error.code === 'VERSION_CONFLICT')) {
        setState({ status: 'idle' });
        onConflict();
        return false;
      }
      if (errors.length > 0) {
        setState({ status: 'refused', refusal: sortUserErrors(errors, fields) });
        return false;
      }
      setState({ status: 'saved' });
      return true;
    } catch (error) {
      setState({ status: 'refused', refusal: { fields: {}, general: [messageOf(error as Error)] } });
      return false;
    }
  }

  const reset = () => setState({ status: 'idle' });
  const fieldError = (field: string) => (state.status === 'refused' ? state.refusal.fields[field] : undefined);
  const general = state.status === 'refused' ? state.refusal.general : [];
  return { state, run, reset, fieldError, general };
}
