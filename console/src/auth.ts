// The session: which bearer token the console sends, and whether it still works.
//
// The transport asks `getToken()` and nothing else, so single sign-on can be added
// here later (a token from an OIDC redirect, refreshed silently) without touching the
// links or the screens. The token lives in memory and in sessionStorage (this tab
// only, so a reload keeps you signed in); never in localStorage, never in a URL.
//
// When the gateway refuses the token (UNAUTHENTICATED, or the socket closing 4401/4403)
// the session becomes `expired`: the screen stays mounted, with its filters and open
// invoice, and the sign-in form comes back over it.
import { createStore, useStore } from './store';

const STORAGE_KEY = 'cg.token';

/** What the token says about its holder, read without verifying (the gateway does). */
export interface TokenClaims {
  subject: string | null;
  role: 'admin' | 'customer' | null;
  accountId: string | null;
}

export type Session =
  | { state: 'signed-out' }
  | { state: 'signed-in'; token: string; claims: TokenClaims | null; epoch: number }
  | { state: 'expired'; claims: TokenClaims | null; epoch: number };

function initialSession(): Session {
  let token: string | null = null;
  try {
    token = sessionStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage disabled: start signed out.
  }
  return token ? { state: 'signed-in', token, claims: readClaims(token), epoch: 1 } : { state: 'signed-out' };
}

export const session = createStore<Session>(initialSession());

export function useSession(): Session {
  return useStore(session);
}

/** The bearer token to send now, or null when there is none that works. */
export function getToken(): string | null {
  const current = session.get();
  return current.state === 'signed-in' ? current.token : null;
}

export function signIn(token: string): void {
  const current = session.get();
  const epoch = current.state === 'signed-out' ? 1 : current.epoch + 1;
  remember(token);
  session.set({ state: 'signed-in', token, claims: readClaims(token), epoch });
}

/** The gateway refused the token: ask for a new one, keeping the page as it is. */
export function expire(): void {
  const current = session.get();
  if (current.state !== 'signed-in') return;
  remember(null);
  session.set({ state: 'expired', claims: current.claims, epoch: current.epoch });
}

export function signOut(): void {
  remember(null);
  session.set({ state: 'signed-out' });
}

function remember(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(STORAGE_KEY, token);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage disabled: the token lives in memory only.
  }
}

/**
 * The claims of a JWT, for the screens' own choices (which page fits this role, which
 * account is "mine"). A token that is not a JWT (an opaque SSO token, say) has none,
 * and the screens then rely on the API alone.
 */
export function readClaims(token: string): TokenClaims | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    const role = claims.role === 'admin' || claims.role === 'customer' ? claims.role : null;
    return {
      subject: typeof claims.sub === 'string' ? claims.sub : null,
      role,
      accountId: typeof claims.accountId === 'string' ? claims.accountId : null,
    };
  } catch {
    return null;
  }
}
