// The real gateway for the browser tests: the release binary, `serve --demo` on a fresh
// SQLite file or PostgreSQL database, on a free loopback port; and what the tests need
// around it (tokens signed with its secret, GraphQL calls, a TCP proxy to cut PostgreSQL).

import { spawn, execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const PG = { host: '127.0.0.1', port: 5432 };

/** A TCP proxy in front of PostgreSQL that can be cut (the database "goes away") and restored. */
export async function pgProxy() {
  const sockets = new Set();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = net.connect(PG);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function psql(sql) {
  execFileSync('psql', ['-h', PG.host, '-U', 'postgres', '-d', 'postgres', '-qc', sql], {
    stdio: 'ignore',
  });
}

/** Starts `serve --demo` on `backend` ('sqlite' or 'postgres'); resolves when it listens. */
export async function startGateway(binary, backend) {
  const secret = randomBytes(32).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'cg-e2e-'));
  let database;
  let proxy;
  let url;
  if (backend === 'postgres') {
    database = `cg_e2e_${process.pid}_${Date.now()}`;
    psql(`CREATE DATABASE ${database}`);
    proxy = await pgProxy();
    url = `postgres://postgres@127.0.0.1:${proxy.port}/${database}`;
  } else {
    url = `sqlite://${join(dir, 'e2e.db')}?mode=rwc`;
  }
  const child = spawn(binary, ['serve', '--demo', '--bind', '127.0.0.1:0'], {
    cwd: dir,
    env: {
      ...process.env,
      DATABASE_URL: url,
      CREDIT_GATEWAY_SECRET: secret,
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise((resolve, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start ${binary}: ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code}`)));
    lines.once('line', (line) => {
      const found = line.match(/http:\/\/[0-9.:]+/);
      found ? resolve(found[0]) : reject(new Error(`unexpected first line: ${line}`));
    });
  });
  lines.on('line', () => {});
  return {
    base,
    backend,
    proxy,
    /** A token signed with the gateway's secret, expiring in `seconds`. */
    token({ role = 'admin', accountId, seconds = 3600, sub = `e2e-${role}` } = {}) {
      const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const claims = { sub, role, exp: Math.floor(Date.now() / 1000) + seconds };
      if (accountId) claims.accountId = accountId;
      const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
      const signature = createHmac('sha256', secret).update(unsigned).digest('base64url');
      return `${unsigned}.${signature}`;
    },
    /** A GraphQL call as `token`; throws on errors. */
    async graphql(token, query, variables = {}) {
      const response = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = await response.json();
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      proxy?.close();
      if (database) psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
