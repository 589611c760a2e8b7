// Live updates: one `invoiceStatusChanged` subscription per screen.
//
// Each change carries the invoice as it is now, which Apollo writes into its cache by
// id (rows and the open invoice update themselves). What the cache cannot know (an
// invoice leaving or entering the current tab, the tab totals) the screen refetches
// in `onChanges`, called once per burst of changes (an import may change thousands).
//
// The feed starts at `startCursor` (read with the screen's data, so nothing committed
// in between is missed). When the connection drops, graphql-ws reconnects and the
// resume link (transport.ts) continues after the last change delivered; after a new
// sign-in, the subscription starts again from that same change.
import { useEffect, useRef, useState } from 'react';
import { skipToken, useSubscription } from '@apollo/client/react';
import { useSession } from './auth';
import { graphql } from './gql';

const LiveInvoiceChanges = graphql(`
  subscription LiveInvoiceChanges($after: String) {
    invoiceStatusChanged(after: $after) {
      cursor
      status
      invoice {
        id
        status
        version
        dueDate
        paymentLink
        updatedAt
        resolvedAt
      }
    }
  }
`);

/** A burst of changes is handled together, at most this often. */
const BATCH_MS = 400;

export function useLiveChanges(startCursor: string | null | undefined, onChanges: (invoiceIds: Set<string>) => void) {
  const current = useSession();
  const signedIn = current.state === 'signed-in';
  const epoch = current.state === 'signed-out' ? 0 : current.epoch;
  const lastCursor = useRef<string | null>(null);
  const [after, setAfter] = useState<string | null>(null);
  const onChangesRef = useRef(onChanges);
  onChangesRef.current = onChanges;
  const pending = useRef(new Set<string>());
  const timer = useRef<number | undefined>(undefined);

  // Start from the screen's cursor once it is known; after a new sign-in, from the
  // last change handled.
  useEffect(() => {
    setAfter((previous) => lastCursor.current ?? previous ?? startCursor ?? null);
  }, [startCursor, epoch]);

  const { error, restart } = useSubscription(
    LiveInvoiceChanges,
    signedIn && after
      ? {
          variables: { after },
          onData: ({ data }) => {
            const change = data.data?.invoiceStatusChanged;
            if (!change) return;
            lastCursor.current = change.cursor;
            pending.current.add(change.invoice.id);
            timer.current ??= window.setTimeout(() => {
              const ids = pending.current;
              pending.current = new Set();
              timer.current = undefined;
              onChangesRef.current(ids);
            }, BATCH_MS);
          },
        }
      : skipToken,
  );

  // A feed that failed for good (not a lost connection: graphql-ws retries those) is
  // started again a little later from the screen's newest cursor, and the screen
  // refreshed, so whatever happened meanwhile shows.
  const restartRef = useRef(restart);
  restartRef.current = restart;
  const afterRef = useRef(after);
  afterRef.current = after;
  useEffect(() => {
    if (!error || !startCursor) return;
    const retry = window.setTimeout(() => {
      lastCursor.current = null;
      if (afterRef.current === startCursor) restartRef.current();
      else setAfter(startCursor);
      onChangesRef.current(new Set());
    }, 5000);
    return () => window.clearTimeout(retry);
  }, [error, startCursor]);

  useEffect(() => () => window.clearTimeout(timer.current), []);
}
