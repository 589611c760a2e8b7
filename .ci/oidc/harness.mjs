// What the single sign-on tests share: free loopback ports, a fresh SQLite file or
// PostgreSQL database (on 127.0.0.1:5432, as user postgres), the provider of
// ./provider.mjs and the release binary (`serve --demo`) trusting it, and tokens from
// the provider's client_credentials grant. Used by sso.test.mjs and console.test.mjs.
// Settings: BIN (the binary; default target/release/credit-gateway under the repository),
// BACKEND (default "sqlite,postgres").

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { ADMIN_ROLE, AUDIENCE, CLIENT_SECRET, generateKeys, startProvider } from './provider.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.BIN ? resolve(process.env.BIN) : join(ROOT, 'target/release/credit-gateway');
export const BACKENDS = (process.env.BACKEND ?? 'sqlite,postgres').split(',');
// The demo store's customer (src/service/demo.rs): the login `customer` stands for it.
export const DEMO_CUSTOMER = '22222222000122_CNPJ';
// No request may hang a suite: a gateway that does not answer fails the test instead.
export const PATIENCE_MS = 15_000;

/** A port nobody listens on now: listen on port 0, read it, close. */
export async function freePort() {
  const server = net.createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/** One SQL statement against the local PostgreSQL's `postgres` database. */
export function psql(sql) {
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-qc', sql], {
    stdio: 'ignore',
  });
}

/** A fresh database of `backend` ('sqlite' in `dir`, or 'postgres'): its URL, and how to drop it. */
export function freshDatabase(backend, dir) {
  if (backend === 'postgres') {
    const name = `cg_oidc_${process.pid}_${Date.now()}`;
    psql(`CREATE DATABASE ${name}`);
    return {
      url: `postgres://postgres@127.0.0.1:5432/${name}`,
      drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  }
  return { url: `sqlite://${join(dir, 'sso.db')}?mode=rwc`, drop: () => {} };
}

/** `serve --demo` on `port`; resolves with its base URL once its first line says it listens. */
export async function startGateway({ env, dir, port }) {
  const child = spawn(BIN, ['serve', '--demo', '--bind', `127.0.0.1:${port}`], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise((ok, fail) => {
    child.once('error', (e) => fail(new Error(`cannot start ${BIN}: ${e.message}`)));
    child.once('exit', (code) => fail(new Error(`the gateway exited with ${code}`)));
    lines.once('line', (line) => {
      const found = line.match(/http:\/\/[0-9.:]+/);
      found ? ok(found[0]) : fail(new Error(`unexpected first line: ${line}`));
    });
  });
  lines.on('line', () => {});
  return {
    base,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The settings of a gateway on `databaseUrl` trusting `issuer`, the console's client included. */
export function oidcEnv({ databaseUrl, issuer }) {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl,
    CREDIT_GATEWAY_SECRET: randomBytes(32).toString('hex'),
    CREDIT_GATEWAY_OIDC_ISSUER: issuer,
    CREDIT_GATEWAY_OIDC_AUDIENCE: AUDIENCE,
    CREDIT_GATEWAY_OIDC_ROLE_CLAIM: 'roles',
    CREDIT_GATEWAY_OIDC_ACCOUNT_CLAIM: 'account_id',
    CREDIT_GATEWAY_OIDC_ADMIN_ROLE: ADMIN_ROLE,
    CREDIT_GATEWAY_OIDC_CLOCK_SKEW_SECONDS: '1',
    CREDIT_GATEWAY_OIDC_CLIENT_ID: 'credit-console',
    RUST_LOG: 'warn',
  };
}

/**
 * A provider and a gateway trusting it, on a fresh database of `backend`, in a fresh
 * temporary folder. The console's redirect URIs are on the gateway's origin, so the
 * gateway's port is chosen before the provider starts, and the provider listens before
 * the gateway starts (which may read the provider's discovery document as it starts).
 *
 * Resolves to { dir, env, keys, providerPort, consoleUri, myCreditsUri, provider, gateway,
 * cleanups, close() }: `cleanups` takes more (run first, last pushed first); close() runs
 * them all and removes the folder.
 */
export async function startStack(backend) {
  const dir = mkdtempSync(join(tmpdir(), 'cg-oidc-'));
  const cleanups = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const providerPort = await freePort();
    const gatewayPort = await freePort();
    const consoleUri = `http://127.0.0.1:${gatewayPort}/console`;
    const myCreditsUri = `http://127.0.0.1:${gatewayPort}/my-credits`;
    const keys = generateKeys('first');
    const provider = await startProvider({
      port: providerPort,
      keys,
      redirectUris: [consoleUri, myCreditsUri],
      customerAccount: DEMO_CUSTOMER,
    });
    cleanups.push(() => provider.close());
    const database = freshDatabase(backend, dir);
    cleanups.push(database.drop);
    const env = oidcEnv({ databaseUrl: database.url, issuer: provider.issuer });
    const gateway = await startGateway({ env, dir, port: gatewayPort });
    cleanups.push(() => gateway.stop());
    return { dir, env, keys, providerPort, consoleUri, myCreditsUri, provider, gateway, cleanups, close };
  } catch (problem) {
    await close();
    throw problem;
  }
}

/** An access token for `clientId` from the client_credentials grant, for `resource`. */
export async function clientToken(issuer, clientId, resource = AUDIENCE) {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      // The provider restarts on the same port mid-run: a kept-alive connection to the old
      // one, cut by its close(), would otherwise be picked for the next request.
      connection: 'close',
      authorization: `Basic ${Buffer.from(`${clientId}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.access_token;
}

/** POST /graphql as `token`: the status and the parsed body. */
export async function gql(base, token, query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(PATIENCE_MS),
  });
  return { status: response.status, body: await response.json() };
}

/** The data of an answer that must have no errors. */
export function data({ status, body }) {
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.equal(status, 200);
  return body.data;
}
