// What the gateway tells the page when it serves it: the JSON it writes into
// <script id="cg-config" type="application/json"> (see index.html). In demo mode it
// carries ready-made tokens for one-click sign-in; with single sign-on configured, the
// identity provider's endpoints and the claims that name a caller's role and account.

export interface DemoTokens {
  admin: string;
  customer: string;
}

/** The identity provider the console signs in through (authorization code with PKCE). */
export interface SsoConfig {
  issuer: string;
  clientId: string;
  /** The audience the gateway accepts; asked for as `resource` when it is a URL. */
  audience: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  roleClaim: string;
  accountClaim: string;
  adminRole: string;
}

export interface PageConfig {
  demo: DemoTokens | null;
  sso: SsoConfig | null;
}

let read: PageConfig | null = null;

/** The page's configuration (read once). */
export function readConfig(): PageConfig {
  if (read) return read;
  const text = document.getElementById('cg-config')?.textContent ?? '';
  try {
    const parsed = JSON.parse(text) as { demo?: unknown; sso?: unknown } | null;
    read = { demo: demoTokens(parsed?.demo), sso: ssoConfig(parsed?.sso) };
  } catch {
    // Not substituted (a page opened outside the gateway): no demo, no SSO.
    read = { demo: null, sso: null };
  }
  return read;
}

function demoTokens(value: unknown): DemoTokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const { admin, customer } = value as Record<string, unknown>;
  return typeof admin === 'string' && typeof customer === 'string' ? { admin, customer } : null;
}

const SSO_FIELDS = [
  'issuer',
  'clientId',
  'audience',
  'authorizationEndpoint',
  'tokenEndpoint',
  'roleClaim',
  'accountClaim',
  'adminRole',
] as const;

function ssoConfig(value: unknown): SsoConfig | null {
  if (typeof value !== 'object' || value === null) return null;
  const fields = value as Record<string, unknown>;
  return SSO_FIELDS.every((name) => typeof fields[name] === 'string') ? (fields as unknown as SsoConfig) : null;
}
