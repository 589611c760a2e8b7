// A modal dialog on the native <dialog>: showModal() makes the rest of the page inert
// and moves focus in; Escape closes it; focus goes back to what opened it.
//
// While one is open, the app's root also gets aria-hidden, and so does any dialog
// under the top one, so that only the top dialog is in the accessibility tree (some
// tools ignore inertness when they look for "the button named X").
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import { session } from '../auth';

const open: HTMLDialogElement[] = [];

function syncHidden(): void {
  const root = document.getElementById('root');
  if (open.length > 0) root?.setAttribute('aria-hidden', 'true');
  else root?.removeAttribute('aria-hidden');
  open.forEach((dialog, index) => {
    if (index < open.length - 1) dialog.setAttribute('aria-hidden', 'true');
    else dialog.removeAttribute('aria-hidden');
  });
}

const FOCUSABLE = 'input:not([disabled]), textarea:not([disabled]), select:not([disabled]), button:not([disabled]), a[href]';

interface DialogProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  /** Where focus goes when the dialog closes, if what opened it is gone by then. */
  returnFocus?: () => HTMLElement | null;
}

export function Dialog({ title, onClose, children, returnFocus }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;
  const returnFocusRef = useRef(returnFocus);
  returnFocusRef.current = returnFocus;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog.showModal();
    open.push(dialog);
    syncHidden();
    const first = dialog.querySelector<HTMLElement>('[data-autofocus]') ?? dialog.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? dialog).focus();

    // Escape: the browser fires `cancel` (which we turn into onClose), or, without a
    // user gesture since opening, closes the dialog itself and fires `close`.
    const cancel = (event: Event) => {
      event.preventDefault();
      onCloseRef.current();
    };
    const closed = () => onCloseRef.current();
    dialog.addEventListener('cancel', cancel);
    dialog.addEventListener('close', closed);
    // The session ended: the sign-in form replaces the screen, so nothing stays open
    // over it.
    const unwatch = session.subscribe(() => {
      if (session.get().state !== 'signed-in') onCloseRef.current();
    });
    return () => {
      unwatch();
      dialog.removeEventListener('cancel', cancel);
      dialog.removeEventListener('close', closed);
      open.splice(open.indexOf(dialog), 1);
      syncHidden();
      if (dialog.open) dialog.close();
      const target = opener?.isConnected ? opener : returnFocusRef.current?.();
      target?.focus();
    };
  }, []);

  return createPortal(
    <dialog ref={ref} className="dialog" role="dialog" aria-modal="true" aria-labelledby={titleId}>
      <h2 id={titleId} className="dialog-title">
        {title}
      </h2>
      {children}
    </dialog>,
    document.body,
  );
}
