// Our gateway for the federation tests: the release binary, `serve --demo` on a fresh
// SQLite file or PostgreSQL database, on a free loopback port, with tokens minted by its
// own `token` command; and a GraphQL POST that returns what came back, errors included.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const BIN = process.env.BIN
  ? resolve(process.env.BIN)
  : fileURLToPath(new URL('../../target/release/credit-gateway', import.meta.url));

function psql(sql) {
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', sql], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** POSTs a GraphQL request; resolves to the HTTP status and the body (JSON when it parses). */
export async function post(url, query, { token, variables } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { unparsable: text };
  }
  return { status: response.status, body };
}

/**
 * Starts `serve --demo` on `backend` ('sqlite' or 'postgres'), as a federation subgraph
 * unless `federation` is false; resolves when it listens.
 */
export async function startGateway({ backend = 'sqlite', federation = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cg-federation-'));
  const env = {
    ...process.env,
    CREDIT_GATEWAY_SECRET: randomBytes(32).toString('hex'),
    // No overdue sweep racing the comparisons of the same invoice read twice.
    CREDIT_GATEWAY_SWEEPER: 'false',
    RUST_LOG: 'warn',
  };
  // The caller's environment must not decide which kind of gateway this is.
  delete env.CREDIT_GATEWAY_FEDERATION;
  if (federation) env.CREDIT_GATEWAY_FEDERATION = 'true';
  let database;
  if (backend === 'postgres') {
    database = `cg_federation_${process.pid}_${Date.now()}`;
    psql(`CREATE DATABASE ${database}`);
    env.DATABASE_URL = `postgres://postgres@127.0.0.1:5432/${database}`;
  } else {
    env.DATABASE_URL = `sqlite://${join(dir, 'federation.db')}?mode=rwc`;
  }
  const cleanup = () => {
    if (database) psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    rmSync(dir, { recursive: true, force: true });
  };

  const child = spawn(BIN, ['serve', '--demo', '--bind', '127.0.0.1:0'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  let base;
  try {
    base = await new Promise((resolve, reject) => {
      child.once('error', (e) => reject(new Error(`cannot start ${BIN}: ${e.message}`)));
      child.once('exit', (code, signal) => reject(new Error(`the gateway exited with ${code ?? signal}`)));
      lines.once('line', (line) => {
        const found = line.match(/http:\/\/[0-9.:]+/);
        found ? resolve(found[0]) : reject(new Error(`unexpected first line: ${line}`));
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    cleanup();
    throw error;
  }
  // Keep reading, or the demo tokens it prints could fill the pipe and block it.
  lines.on('line', () => {});

  const url = `${base}/graphql`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    /** A bearer token from `token --admin` or `token --account ID`, same secret. */
    token(accountId) {
      const args = accountId ? ['token', '--account', accountId] : ['token', '--admin'];
      return execFileSync(BIN, args, { cwd: dir, env, encoding: 'utf8' }).trim();
    },
    post: (query, options) => post(url, query, options),
    /** The `data` of a request that must succeed. */
    async data(token, query, variables) {
      const { status, body } = await post(url, query, { token, variables });
      if (status !== 200 || body.errors || !body.data) {
        throw new Error(`${query}\n→ HTTP ${status} ${JSON.stringify(body)}`);
      }
      return body.data;
    },
    alive,
    async stop() {
      if (alive()) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        // A gateway that does not stop must not keep its database from being dropped.
        const stuck = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(stuck);
      }
      cleanup();
    },
  };
}
