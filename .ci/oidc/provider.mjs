// A real OpenID Connect provider (oidc-provider) for the single sign-on conformance tests:
// plain HTTP on 127.0.0.1, issuer http://127.0.0.1:PORT, access tokens as JWTs for the
// requested resource (RFC 8707 resource indicators), signed RS256, or ES256 for clients
// whose id ends with `-es`, carrying `roles` and `account_id` claims.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

export const AUDIENCE = 'https://credit-gateway.test/';
export const OTHER_AUDIENCE = 'https://other.test/';
export const ADMIN_ROLE = 'credit-admin';
/** The secret of every confidential client here (client_secret_basic). */
export const CLIENT_SECRET = 'a-test-client-secret-of-at-least-32-characters';

/** A fresh signing key set: an RSA 2048 key and an EC P-256 key, their kids prefixed by `label`. */
export function generateKeys(label) {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  // No `alg` on the keys, as many providers publish them: the token header names it.
  return [
    { ...rsa.export({ format: 'jwk' }), kid: `${label}-rsa`, use: 'sig' },
    { ...ec.export({ format: 'jwk' }), kid: `${label}-ec`, use: 'sig' },
  ];
}

/**
 * Starts a provider on 127.0.0.1:`port`, signing with `keys` (from generateKeys).
 * `redirectUris`: the console's (client `credit-console`); `customerAccount`: the credit
 * account that client `customer-es` and the login `customer` stand for.
 * Resolves to { issuer, jwksFetches (when its key set was read), close() }.
 */
export async function startProvider({ port, keys, redirectUris, customerAccount }) {
  const issuer = `http://127.0.0.1:${port}`;
  // What each caller's access tokens say about it: clients by id (client_credentials),
  // people by login name (authorization code).
  const claimsOfClient = {
    'erp-admin': { roles: [ADMIN_ROLE] },
    'short-lived': { roles: [ADMIN_ROLE] },
    'customer-es': { account_id: customerAccount },
    'no-role': {},
  };
  const claimsOfLogin = {
    ops: { roles: [ADMIN_ROLE] },
    customer: { account_id: customerAccount },
  };
  const machine = (clientId) => ({
    client_id: clientId,
    client_secret: CLIENT_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  });

  const provider = new Provider(issuer, {
    clients: [
      ...Object.keys(claimsOfClient).map(machine),
      {
        client_id: 'credit-console',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: redirectUris,
      },
    ],
    jwks: { keys },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: {
      // The built-in login form: any login name, any password. Good enough for tests.
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // The code grant's token request then need not repeat `resource`: without this,
        // a request with scope `openid` would get an opaque token for userinfo.
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resource, client) {
          if (resource !== AUDIENCE && resource !== OTHER_AUDIENCE) throw new errors.InvalidTarget();
          return {
            scope: '',
            audience: resource,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: client.clientId.endsWith('-es') ? 'ES256' : 'RS256' } },
          };
        },
      },
    },
    async findAccount(ctx, sub) {
      return { accountId: sub, claims: async () => ({ sub }) };
    },
    extraTokenClaims(ctx, token) {
      return token.kind === 'ClientCredentials'
        ? claimsOfClient[token.clientId]
        : claimsOfLogin[token.accountId];
    },
    // Every lifetime set, so that the provider does not warn about its defaults.
    ttl: {
      ClientCredentials: (ctx, token, client) => (client.clientId === 'short-lived' ? 2 : 600),
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    // The console runs in a browser on the gateway's origin and calls the token endpoint.
    clientBasedCORS(ctx, origin, client) {
      return client.redirectUris.some((uri) => new URL(uri).origin === origin);
    },
    // No consent screen: whatever a signed-in person's request asks for is granted.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      if (!oidc.session.accountId) return undefined;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      const grant =
        (grantId && (await oidc.provider.Grant.find(grantId))) ||
        new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope(oidc.requestParamOIDCScopes);
      for (const [resource, server] of Object.entries(oidc.resourceServers)) {
        grant.addResourceScope(resource, [...oidc.requestParamScopes].filter((s) => server.scopes.has(s)));
      }
      await grant.save();
      return grant;
    },
  });

  // When the gateway read the key set: the rotation test waits out its refresh interval.
  const jwksFetches = [];
  provider.use(async (ctx, next) => {
    if (ctx.path === '/jwks') jwksFetches.push(Date.now());
    await next();
  });

  const server = http.createServer(provider.callback());
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    issuer,
    jwksFetches,
    /** Stops listening and cuts kept-alive connections (the gateway's among them). */
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
