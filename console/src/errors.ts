// What went wrong with an operation, in the gateway's terms: the `extensions.code` of
// its errors, whether they came in a GraphQL answer or in the body of a 4xx/5xx.
import type { ErrorLike } from '@apollo/client';
import { CombinedGraphQLErrors, ServerError, ServerParseError } from '@apollo/client/errors';

interface GatewayError {
  code: string | null;
  message: string;
}

/** The gateway's errors inside `error`; empty for a network failure. */
function gatewayErrors(error: unknown): GatewayError[] {
  if (CombinedGraphQLErrors.is(error)) return error.errors.map(toGatewayError);
  if (ServerError.is(error)) {
    try {
      const body = JSON.parse(error.bodyText) as { errors?: unknown };
      if (Array.isArray(body.errors)) return body.errors.map(toGatewayError);
    } catch {
      // A body that is not JSON (a proxy's error page): no codes.
    }
  }
  return [];
}

function toGatewayError(raw: unknown): GatewayError {
  const { message, extensions } = (raw ?? {}) as { message?: unknown; extensions?: { code?: unknown } };
  return {
    code: typeof extensions?.code === 'string' ? extensions.code : null,
    message: typeof message === 'string' ? message : '',
  };
}

function hasCode(error: unknown, ...codes: string[]): boolean {
  return gatewayErrors(error).some((e) => e.code !== null && codes.includes(e.code));
}

export function isUnauthenticated(error: unknown): boolean {
  return hasCode(error, 'UNAUTHENTICATED') || (ServerError.is(error) && error.statusCode === 401);
}

/** Codes of a gateway that answers but cannot work right now (its database is gone). */
export const UNAVAILABLE_CODES = ['INTERNAL', 'SERVICE_UNAVAILABLE', 'UNAVAILABLE'];

/** The service did not answer, or answered that it cannot work right now. */
export function isUnavailable(error: unknown): boolean {
  if (hasCode(error, ...UNAVAILABLE_CODES)) return true;
  if (CombinedGraphQLErrors.is(error)) return false;
  if (ServerError.is(error)) return error.statusCode >= 500;
  // fetch fails with a TypeError when the gateway cannot be reached; an answer that is
  // not JSON at all comes from something in front of it (a proxy's error page).
  return error instanceof TypeError || ServerParseError.is(error);
}

/** A message for people: the gateway's own, when it sent one. */
export function messageOf(error: ErrorLike | undefined | null): string {
  if (!error) return '';
  const first = gatewayErrors(error).find((e) => e.message);
  return first ? first.message : error.message;
}
