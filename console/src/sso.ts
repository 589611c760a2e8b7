// Single sign-on: the authorization code flow with PKCE (RFC 7636), run by the page
// itself as a public client. "Sign in with SSO" sends the browser to the identity
// provider; it comes back to this same address with `?code=…&state=…`, and the page
// trades the code (with the secret verifier only it knows) for an access token at the
// provider's token endpoint, then signs in with it like any other token: the gateway
// verifies it against the provider's published keys.
//
// What survives the round trip (the verifier and `state`) waits in sessionStorage: this
// tab only, removed as soon as it is read. The code leaves the address bar at once.
import { signIn } from './auth';
import type { SsoConfig } from './config';
import { checkToken } from './transport';

const PENDING_KEY = 'cg.sso';

interface Pending {
  state: string;
  verifier: string;
  redirectUri: string;
}

/** The reason given for a return this tab did not start (SignIn words it). */
export const STATE_MISMATCH = 'state mismatch';

export type SsoOutcome =
  | { kind: 'signed-in' }
  | { kind: 'refused' }
  | { kind: 'failed'; message: string };

/** Sends the browser to the provider's sign-in page. */
export async function startSso(sso: SsoConfig): Promise<void> {
  const verifier = randomText(32);
  const state = randomText(16);
  const redirectUri = `${location.origin}${location.pathname.replace(/\/+$/, '')}`;
  const pending: Pending = { state, verifier, redirectUri };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const url = new URL(sso.authorizationEndpoint);
  const params = url.searchParams;
  params.set('response_type', 'code');
  params.set('client_id', sso.clientId);
  params.set('redirect_uri', redirectUri);
  params.set('scope', 'openid profile');
  params.set('state', state);
  params.set('code_challenge', base64url(new Uint8Array(digest)));
  params.set('code_challenge_method', 'S256');
  if (isUrl(sso.audience)) params.set('resource', sso.audience);
  location.assign(url.toString());
}

/** Whether this address is the provider sending the browser back. */
export function isSsoReturn(): boolean {
  const params = new URLSearchParams(location.search);
  return params.has('state') && (params.has('code') || params.has('error'));
}

let finishing: Promise<SsoOutcome> | null = null;

/** Completes a return from the provider (once, however often it is asked). */
export function finishSso(sso: SsoConfig): Promise<SsoOutcome> {
  finishing ??= exchange(sso);
  return finishing;
}

async function exchange(sso: SsoConfig): Promise<SsoOutcome> {
  const params = new URLSearchParams(location.search);
  // The code is single-use and short-lived, but it has no business in the history.
  history.replaceState(null, '', location.pathname);
  let pending: Pending | null = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null') as Pending | null;
    sessionStorage.removeItem(PENDING_KEY);
  } catch {
    pending = null;
  }
  // Nothing the address says is shown before its state proves this tab sent it there:
  // a crafted link must not put its own words in the page.
  if (!pending || pending.state !== params.get('state')) {
    return { kind: 'failed', message: STATE_MISMATCH };
  }
  const error = params.get('error');
  if (error) return { kind: 'failed', message: params.get('error_description') ?? error };
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code: params.get('code') ?? '',
    redirect_uri: pending.redirectUri,
    client_id: sso.clientId,
    code_verifier: pending.verifier,
  });
  if (isUrl(sso.audience)) form.set('resource', sso.audience);
  let token: unknown;
  try {
    const response = await fetch(sso.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form,
    });
    const body = (await response.json()) as { access_token?: unknown; error?: unknown; error_description?: unknown };
    if (!response.ok) {
      const reason = body.error_description ?? body.error ?? `status ${response.status}`;
      return { kind: 'failed', message: String(reason) };
    }
    token = body.access_token;
  } catch (problem) {
    return { kind: 'failed', message: (problem as Error).message };
  }
  if (typeof token !== 'string' || !token) return { kind: 'failed', message: 'no access token in the answer' };
  const verdict = await checkToken(token);
  if (verdict.verdict === 'refused') return { kind: 'refused' };
  if (verdict.verdict === 'failed') return { kind: 'failed', message: verdict.message };
  signIn(token);
  return { kind: 'signed-in' };
}

function randomText(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

function isUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}
