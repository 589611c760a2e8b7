// Single sign-on conformance: the release binary (`serve --demo`) trusting a real OpenID
// Connect provider (./provider.mjs), on a fresh SQLite file and on a fresh PostgreSQL
// database. Run by .ci/oidc/run; by hand: `node --test --test-concurrency=1 sso.test.mjs`.
// Settings: BIN (the binary; default target/release/credit-gateway under the repository),
// BACKEND (default "sqlite,postgres").
//
// The tests of one backend share one gateway and run in order: the key rotation and the
// provider outage at the end change what the gateway has cached.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createClient } from 'graphql-ws/client';
import { SignJWT, generateKeyPair } from 'jose';
import WebSocket from 'ws';

import {
  BACKENDS,
  BIN,
  DEMO_CUSTOMER,
  PATIENCE_MS,
  clientToken,
  data,
  freePort,
  gql,
  startStack,
} from './harness.mjs';
import { ADMIN_ROLE, AUDIENCE, OTHER_AUDIENCE, generateKeys, startProvider } from './provider.mjs';

// The gateway refreshes its key set at most once per 5 s.
const REFRESH_WAIT_MS = 6_000;
const INVOICES = '{ invoices(first: 5) { totalCount nodes { id accountId } } }';

/** A token refusal as the gateway answers every bad bearer token: 401, one UNAUTHENTICATED. */
function assertRefused({ status, body }, message) {
  assert.equal(status, 401, JSON.stringify(body));
  assert.equal(body.errors?.length, 1, JSON.stringify(body));
  assert.equal(body.errors[0].extensions?.code, 'UNAUTHENTICATED', JSON.stringify(body));
  assert.equal(body.data ?? null, null);
  if (message) assert.match(body.errors[0].message, message);
}

/** Resolves once `provider`'s key set was last read at least REFRESH_WAIT_MS ago. */
async function afterRefreshInterval(provider) {
  assert.ok(provider.jwksFetches.length > 0, 'the gateway has read the key set');
  await sleep(Math.max(0, provider.jwksFetches.at(-1) + REFRESH_WAIT_MS - Date.now()));
}

/**
 * A person signing in to `credit-console` as `login`, as the console will: authorization
 * code with PKCE for the gateway's audience, through the provider's own login form, the
 * token request sent from the gateway's origin. Resolves to the token response.
 */
async function signInAsPerson(issuer, redirectUri, login) {
  const cookies = new Map();
  const visit = async (url, init = {}) => {
    const cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...init.headers, cookie } });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return response;
  };
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(8).toString('hex');
  const authorize = new URLSearchParams({
    client_id: 'credit-console',
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid',
    resource: AUDIENCE,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
  });
  let response = await visit(`${issuer}/auth?${authorize}`);
  assert.equal(response.status, 303);
  const form = new URL(response.headers.get('location'), issuer);
  assert.match(await (await visit(form)).text(), /name="login"/);
  response = await visit(form, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ prompt: 'login', login, password: 'any' }),
  });
  assert.equal(response.status, 303);
  // No consent screen: the provider grants what was asked and redirects back.
  response = await visit(new URL(response.headers.get('location'), issuer));
  assert.equal(response.status, 303);
  const back = new URL(response.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, redirectUri);
  assert.equal(back.searchParams.get('state'), state);
  const origin = new URL(redirectUri).origin;
  response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code'),
      redirect_uri: redirectUri,
      code_verifier: verifier,
      client_id: 'credit-console',
    }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(response.headers.get('access-control-allow-origin'), origin, 'CORS for the console');
  return body;
}

/** One operation over /graphql/ws (graphql-transport-ws), authenticated by connection_init. */
async function overWebSocket(base, token, query) {
  const client = createClient({
    url: `${base.replace('http', 'ws')}/graphql/ws`,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  try {
    return await new Promise((ok, fail) => {
      let result;
      client.subscribe(
        { query },
        { next: (value) => (result = value), error: fail, complete: () => ok(result) },
      );
    });
  } finally {
    await client.dispose();
  }
}

for (const backend of BACKENDS) {
  describe(`single sign-on (${backend})`, () => {
    let dir;
    let cleanups;
    let providerPort;
    let firstKeys;
    let provider;
    let gateway;
    let env;
    let consoleUri;
    let closeStack;

    before(async () => {
      ({
        dir,
        cleanups,
        providerPort,
        keys: firstKeys,
        provider,
        gateway,
        env,
        consoleUri,
        close: closeStack,
      } = await startStack(backend));
    });

    after(async () => closeStack?.());

    // The admin's answer to INVOICES, and the demo customer's invoices, for comparisons.
    let adminInvoices;
    let customerInvoices;

    test('1. an RS256 admin token (client_credentials) reads the demo store', async () => {
      const token = await clientToken(provider.issuer, 'erp-admin');
      adminInvoices = data(await gql(gateway.base, token, INVOICES)).invoices;
      // The demo store holds 15 invoices (src/service/demo.rs).
      assert.equal(adminInvoices.totalCount, 15);
      assert.equal(adminInvoices.nodes.length, 5);
      for (const node of adminInvoices.nodes) assert.ok(node.id && node.accountId, JSON.stringify(node));
    });

    test("2. an ES256 customer token sees only its account's invoices", async () => {
      const admin = await clientToken(provider.issuer, 'erp-admin');
      const store = data(
        await gql(
          gateway.base,
          admin,
          `query($mine: ID!) {
            all: invoices(first: 100) { totalCount nodes { id accountId } }
            mine: invoices(accountId: $mine, first: 100) { totalCount nodes { id accountId } }
          }`,
          { mine: DEMO_CUSTOMER },
        ),
      );
      assert.ok(store.mine.totalCount > 0, `the demo store has invoices of ${DEMO_CUSTOMER}`);
      const theirs = store.all.nodes.find((node) => node.accountId !== DEMO_CUSTOMER);
      assert.ok(theirs, 'the demo store has invoices of another account');

      const token = await clientToken(provider.issuer, 'customer-es');
      assert.equal(JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).alg, 'ES256');
      const seen = data(
        await gql(
          gateway.base,
          token,
          `query($theirs: ID!, $own: ID!) {
            invoices(first: 100) { totalCount nodes { id accountId } }
            theirs: invoice(id: $theirs) { id }
            own: invoice(id: $own) { id accountId }
          }`,
          { theirs: theirs.id, own: store.mine.nodes[0].id },
        ),
      );
      assert.deepEqual(seen.invoices, store.mine);
      assert.equal(seen.theirs, null);
      assert.deepEqual(seen.own, store.mine.nodes[0]);
      customerInvoices = store.mine;
    });

    test('3. a shared-secret token still works while OIDC is configured', async () => {
      const token = execFileSync(BIN, ['token', '--admin'], { cwd: dir, env }).toString().trim();
      assert.deepEqual(data(await gql(gateway.base, token, INVOICES)).invoices, adminInvoices);
    });

    test('4. a token for another audience is refused', async () => {
      const token = await clientToken(provider.issuer, 'erp-admin', OTHER_AUDIENCE);
      assertRefused(await gql(gateway.base, token, INVOICES));
    });

    test('5. an expired token is refused, saying it expired', async () => {
      const token = await clientToken(provider.issuer, 'short-lived');
      assert.deepEqual(data(await gql(gateway.base, token, INVOICES)).invoices, adminInvoices);
      // 2 s to live and 1 s of allowed skew: expired after 4 s.
      await sleep(4_000);
      assertRefused(await gql(gateway.base, token, INVOICES), /expired/);
    });

    test('6. a token from another issuer is refused', async () => {
      // With its own keys (neither the issuer nor the kid is known here), and with the
      // trusted provider's very keys (only `iss` gives it away).
      for (const keys of [generateKeys('stranger'), firstKeys]) {
        const stranger = await startProvider({
          port: await freePort(),
          keys,
          redirectUris: [consoleUri],
          customerAccount: DEMO_CUSTOMER,
        });
        try {
          const token = await clientToken(stranger.issuer, 'erp-admin');
          assertRefused(await gql(gateway.base, token, INVOICES));
        } finally {
          await stranger.close();
        }
      }
    });

    test('7. a token with neither a role nor an account is refused', async () => {
      const token = await clientToken(provider.issuer, 'no-role');
      assertRefused(await gql(gateway.base, token, INVOICES));
    });

    test('people sign in through the console client (authorization code + PKCE)', async () => {
      const ops = await signInAsPerson(provider.issuer, consoleUri, 'ops');
      assert.deepEqual(data(await gql(gateway.base, ops.access_token, INVOICES)).invoices, adminInvoices);
      const customer = await signInAsPerson(provider.issuer, consoleUri, 'customer');
      assert.deepEqual(data(await gql(gateway.base, customer.access_token, INVOICES)).invoices, {
        totalCount: customerInvoices.totalCount,
        nodes: customerInvoices.nodes.slice(0, 5),
      });
    });

    test('10. an OIDC token opens /graphql/ws (graphql-transport-ws)', async () => {
      const token = await clientToken(provider.issuer, 'erp-admin');
      const result = await overWebSocket(gateway.base, token, INVOICES);
      assert.equal(result.errors, undefined, JSON.stringify(result.errors));
      assert.deepEqual(result.data.invoices, adminInvoices);
      // A token the gateway refuses closes the connection as 4403 Forbidden (src/http/ws.rs).
      const refused = await clientToken(provider.issuer, 'erp-admin', OTHER_AUDIENCE);
      await assert.rejects(overWebSocket(gateway.base, refused, INVOICES), (event) => {
        assert.equal(event.code, 4403);
        return true;
      });
    });

    // The key set in force after the rotation, and a token signed with it.
    let rotated;
    let rotatedToken;

    test('8. a rotated key set is fetched on an unknown kid; the retired key is refused', async () => {
      const retiredToken = await clientToken(provider.issuer, 'erp-admin');
      await afterRefreshInterval(provider);
      await provider.close();
      rotated = await startProvider({
        port: providerPort,
        keys: generateKeys('second'),
        redirectUris: [consoleUri],
        customerAccount: DEMO_CUSTOMER,
      });
      cleanups.push(() => rotated.close());

      rotatedToken = await clientToken(rotated.issuer, 'erp-admin');
      assert.equal(JSON.parse(Buffer.from(rotatedToken.split('.')[0], 'base64url')).kid, 'second-rsa');
      assert.deepEqual(data(await gql(gateway.base, rotatedToken, INVOICES)).invoices, adminInvoices);
      assert.ok(rotated.jwksFetches.length > 0, 'the gateway read the new key set');
      assertRefused(await gql(gateway.base, retiredToken, INVOICES));
    });

    test('9. with the provider down, cached keys keep working and an unknown kid is refused', async () => {
      await afterRefreshInterval(rotated);
      await rotated.close();
      assert.deepEqual(data(await gql(gateway.base, rotatedToken, INVOICES)).invoices, adminInvoices);

      const { privateKey } = await generateKeyPair('RS256');
      const forged = await new SignJWT({ roles: [ADMIN_ROLE], client_id: 'erp-admin' })
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'never-published' })
        .setIssuer(rotated.issuer)
        .setAudience(AUDIENCE)
        .setSubject('erp-admin')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey);
      // gql() gives up after PATIENCE_MS: a gateway waiting on the dead provider fails here.
      assertRefused(await gql(gateway.base, forged, INVOICES));
    });

    test('11. a plain-HTTP issuer off loopback stops the gateway at start, naming https', async () => {
      const child = spawn(BIN, ['serve', '--demo', '--bind', '127.0.0.1:0'], {
        cwd: dir,
        env: { ...env, CREDIT_GATEWAY_OIDC_ISSUER: 'http://example.com' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const guard = setTimeout(() => child.kill('SIGKILL'), PATIENCE_MS);
      const [code, signal] = await new Promise((ok) => child.once('exit', (...end) => ok(end)));
      clearTimeout(guard);
      assert.equal(signal, null, `the gateway did not exit by itself; stderr: ${stderr}`);
      assert.notEqual(code, 0);
      assert.match(stderr, /https/, stderr);
    });
  });
}
