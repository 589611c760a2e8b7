// The one Apollo Client of the page, and how it reaches the gateway.
//
//   sessionLink ─┬─ subscriptions → resumeLink → GraphQLWsLink (graphql-ws, /graphql/ws)
//                └─ everything else → UploadHttpLink (/graphql; multipart for files)
//
// The session link adds the bearer token and watches every answer: UNAUTHENTICATED
// ends the session (the sign-in comes back, the screen stays), an unreachable or
// failing gateway raises the "unavailable" banner and starts `recover()`.
import { ApolloClient, ApolloLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import UploadHttpLink from 'apollo-upload-client/UploadHttpLink.mjs';
import type { FormattedExecutionResult, GraphQLFormattedError } from 'graphql';
import { createClient } from 'graphql-ws';
import { tap } from 'rxjs';
import { expire, getToken, session } from './auth';
import { isUnauthenticated, isUnavailable, messageOf, UNAVAILABLE_CODES } from './errors';
import { graphql } from './gql';
import { health, setLive, setReachable } from './health';

/** The cheapest question the gateway answers: used to check a token and to probe. */
export const PingQuery = graphql(`
  query Ping {
    today
  }
`);

/** Context a caller may set on one operation: a token to try instead of the session's. */
export interface TrialContext {
  trialToken?: string;
}

function errorCodes(result: FormattedExecutionResult): string[] {
  return (result.errors ?? []).flatMap((error: GraphQLFormattedError) => {
    const code = error.extensions?.code;
    return typeof code === 'string' ? [code] : [];
  });
}

const sessionLink = new ApolloLink((operation, forward) => {
  const { trialToken } = operation.getContext() as TrialContext;
  const token = trialToken ?? getToken();
  operation.setContext(({ headers }: { headers?: Record<string, string> }) => ({
    headers: token ? { ...headers, authorization: `Bearer ${token}` } : headers,
  }));
  // A trial token (the sign-in form checking one) failing is the form's business.
  const ours = trialToken === undefined;
  return forward(operation).pipe(
    tap({
      next(result) {
        const codes = errorCodes(result as FormattedExecutionResult);
        setReachable(!codes.some((code) => UNAVAILABLE_CODES.includes(code)));
        if (ours && codes.includes('UNAUTHENTICATED')) expire();
      },
      error(error: unknown) {
        setReachable(!isUnavailable(error));
        if (ours && isUnauthenticated(error)) expire();
      },
    }),
  );
});

/**
 * graphql-ws resends a subscription's first payload when it reconnects after a lost
 * connection. For a feed that takes `after`, that would replay every change since the
 * screen opened; this link makes the payload's `after` read the cursor of the last
 * change delivered instead, so a reconnection resumes right after it.
 */
const resumeLink = new ApolloLink((operation, forward) => {
  if (!('after' in operation.variables)) return forward(operation);
  let after: unknown = operation.variables.after;
  const variables = { ...operation.variables };
  Object.defineProperty(variables, 'after', { enumerable: true, get: () => after });
  operation.variables = variables;
  return forward(operation).pipe(
    tap((result) => {
      for (const value of Object.values((result as FormattedExecutionResult).data ?? {})) {
        const cursor = (value as { cursor?: unknown } | null)?.cursor;
        if (typeof cursor === 'string') after = cursor;
      }
    }),
  );
});

function isCloseEvent(value: unknown): value is CloseEvent {
  return typeof value === 'object' && value !== null && 'code' in value && 'reason' in value;
}

/** The gateway closes the socket with 4403 for a bad or expired token (4401: no init). */
function isAuthClose(value: unknown): boolean {
  return isCloseEvent(value) && (value.code === 4401 || value.code === 4403);
}

const socket = createClient({
  url: () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`,
  // Read on every (re)connection, so a new sign-in's token is the one sent.
  connectionParams: (): Record<string, string> => {
    const token = getToken();
    return token ? { Authorization: `Bearer ${token}` } : {};
  },
  // Keep trying for as long as the screen is open; the feed resumes from its cursor.
  retryAttempts: Infinity,
  shouldRetry: (event) => !isAuthClose(event),
  retryWait: (retries) =>
    new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** retries, 15_000) * (0.75 + Math.random() / 2))),
  on: {
    connecting: () => {
      if (health.get().live === 'off') setLive('connecting');
    },
    connected: () => {
      setLive('live');
      setReachable(true);
    },
    closed: (event) => {
      if (isAuthClose(event)) {
        setLive('off');
        expire();
      } else if (isCloseEvent(event) && event.code === 1000) {
        // The last subscription ended (the socket is opened on demand).
        setLive('off');
      } else {
        // Lost: graphql-ws retries; the banner shows until the gateway answers again
        // (4xxx codes are the protocol's own, not an outage).
        setLive('lost');
        if (!isCloseEvent(event) || event.code < 4000) setReachable(false);
      }
    },
  },
});

const isSubscription = (operation: ApolloLink.Operation) => operation.operationType === 'subscription';

export const client = new ApolloClient({
  link: ApolloLink.from([
    sessionLink,
    ApolloLink.split(
      isSubscription,
      resumeLink.concat(new GraphQLWsLink(socket)),
      new UploadHttpLink({ uri: '/graphql' }),
    ),
  ]),
  cache: new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          invoiceStatusTotals: { merge: false },
          invoiceImports: { merge: false },
        },
      },
      Invoice: { fields: { history: { merge: false } } },
      InvoiceImport: { fields: { errors: { merge: false } } },
    },
  }),
});

// Signed in again after the session ended: what failed meanwhile is read again, and an
// open socket reconnects with the new token (graphql-ws sends its subscriptions again,
// resuming from their cursors; terminate() does nothing when no socket is open).
let previous = session.get();
session.subscribe(() => {
  const was = previous;
  const current = session.get();
  previous = current;
  if (current.state !== 'signed-in' || (was.state === 'signed-in' && was.token === current.token)) return;
  socket.terminate();
  if (was.state === 'expired') void client.refetchQueries({ include: 'active' }).catch(() => undefined);
});

let recovering = false;

/**
 * While the gateway is unavailable, probe it with `Ping` (1 s, 2 s, 4 s… up to 15 s);
 * when it answers, refetch what the screen shows. Probing only happens during an
 * outage: live data comes from the subscription, never from polling.
 */
function recover(): void {
  if (recovering) return;
  recovering = true;
  let delay = 1000;
  const attempt = () => {
    client
      .query({ query: PingQuery, fetchPolicy: 'network-only' })
      .catch(() => undefined)
      .then(() => {
        if (health.get().reachable) {
          recovering = false;
          void client.refetchQueries({ include: 'active' }).catch(() => undefined);
        } else {
          delay = Math.min(delay * 2, 15_000);
          setTimeout(attempt, delay);
        }
      });
  };
  setTimeout(attempt, delay);
}

health.subscribe(() => {
  if (!health.get().reachable) recover();
});

export type TokenVerdict = { verdict: 'accepted' } | { verdict: 'refused' } | { verdict: 'failed'; message: string };

/** Asks the gateway whether it accepts `token`, before the session takes it. */
export async function checkToken(token: string): Promise<TokenVerdict> {
  try {
    const context: TrialContext = { trialToken: token };
    await client.query({ query: PingQuery, fetchPolicy: 'no-cache', context });
    return { verdict: 'accepted' };
  } catch (error) {
    if (isUnauthenticated(error)) return { verdict: 'refused' };
    return { verdict: 'failed', message: messageOf(error as Error) };
  }
}
