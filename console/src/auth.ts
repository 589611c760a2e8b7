// The session: which bearer token the console sends, and whether it still works.
//
// The transport asks `getToken()` and nothing else: a pasted token, a demo token and
// an identity provider's token (see sso.ts) are all the same to the links and the
// screens. The token lives in memory and in sessionStorage (this tab only, so a reload
// keeps you signed in); never in localStorage, never in a URL.
//
// When the gateway refuses the token (UNAUTHENTICATED, or the socket closing 4401/4403)
// the session becomes `expired`: the screen stays mounted, with its filters and open
// invoice, and the sign-in form comes back over it.
import { readConfig, type SsoConfig } from './config';
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
    const sso = readConfig().sso;
    if (sso && claims.iss === sso.issuer) return providerClaims(claims, sso);
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

/** The claims of the identity provider's token, read by the gateway's own rules. */
function providerClaims(claims: Record<string, unknown>, sso: SsoConfig): TokenClaims {
  const roles = claimAt(claims, sso.roleClaim);
  const isAdmin = Array.isArray(roles) ? roles.includes(sso.adminRole) : roles === sso.adminRole;
  const account = claimAt(claims, sso.accountClaim);
  const accountId = typeof account === 'string' && account.trim() ? account : typeof account === 'number' ? String(account) : null;
  return {
    subject: typeof claims.name === 'string' ? claims.name : typeof claims.sub === 'string' ? claims.sub : null,
    role: isAdmin ? 'admin' : accountId ? 'customer' : null,
    accountId: isAdmin ? null : accountId,
  };
}

/** The value at a dotted path (`realm_access.roles`), or a claim whose name has dots. */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}
