// Single sign-on in the browser: the console's "Sign in with SSO" (authorization code
// with PKCE, run by the page itself) against the real provider of ./provider.mjs and the
// release binary, in Debian's Chromium, on a fresh SQLite file and on a fresh PostgreSQL
// database. Run by .ci/oidc/run; by hand:
// `node --test --test-concurrency=1 console.test.mjs`.
// Settings: BIN and BACKEND (see harness.mjs). Screenshots go to ./screenshots (ignored
// by git, as console/e2e/screenshots is); the last backend's are the ones left.
//
// The browser talks to 127.0.0.1 only: anything else (the provider's login page asks for
// a web font) is refused before it leaves.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
  BACKENDS,
  DEMO_CUSTOMER,
  clientToken,
  data,
  freePort,
  freshDatabase,
  gql,
  startGateway,
  startStack,
} from './harness.mjs';
import { AUDIENCE } from './provider.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, 'screenshots');
mkdirSync(SHOTS, { recursive: true });
// How long the browser waits for anything (a page, an element) before the test fails.
const WAIT_MS = 15_000;
const LANGUAGE_NAMES = { en: 'English', es: 'Español', pt: 'Português' };
const SSO_BUTTON = { en: 'Sign in with SSO', es: 'Entrar con SSO', pt: 'Entrar com SSO' };
const SSO_FAILED = {
  en: 'Single sign-on did not complete: ',
  es: 'El inicio de sesión único no se completó: ',
  pt: 'O login único não foi concluído: ',
};
// The console's status tabs in English (console/src/messages.ts): the Invoices screen.
const STATUS_TABS = ['Open', 'Paid', 'Cancelled', 'Overdue'];

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
after(async () => browser?.close());

/**
 * A fresh browser context (its own storage) and page, recording what went wrong on the
 * gateway's pages (uncaught errors, console errors) and every request to the provider
 * and every answer of 400 or more, for the assertions and for the report when one fails.
 */
async function freshPage(stack) {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(WAIT_MS);
  await context.route('**/*', (route) =>
    new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort('blockedbyclient'),
  );
  const page = await context.newPage();
  const gatewayOrigin = new URL(stack.gateway.base).origin;
  const onGateway = () => {
    try {
      return new URL(page.url()).origin === gatewayOrigin;
    } catch {
      return false;
    }
  };
  page.problems = [];
  page.providerRequests = [];
  page.failedResponses = [];
  page.on('pageerror', (error) => page.problems.push(`${page.url()}: uncaught ${error}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && onGateway()) page.problems.push(`${page.url()}: console: ${message.text()}`);
  });
  page.on('request', (request) => {
    if (request.url().startsWith(`${stack.provider.issuer}/`)) page.providerRequests.push(request);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) {
      page.failedResponses.push(`${response.request().method()} ${response.url()} → ${response.status()}`);
    }
  });
  return page;
}

/** Runs `body` with a fresh page; on failure, a screenshot and what the page reported. */
async function withPage(stack, name, body) {
  const page = await freshPage(stack);
  try {
    await body(page);
  } catch (problem) {
    const shot = join(SHOTS, `FAILED-${stack.backend}-${name}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    problem.message +=
      `\n  at ${page.url()} (screenshot ${shot})` +
      `\n  page problems: ${JSON.stringify(page.problems)}` +
      `\n  answers >= 400: ${JSON.stringify(page.failedResponses)}`;
    throw problem;
  } finally {
    await page.context().close();
  }
}

async function shoot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function chooseLanguage(page, language) {
  // The selector's label is "Language" in English, and "Idioma / Language" otherwise.
  await page.getByLabel('Language').selectOption({ label: LANGUAGE_NAMES[language] });
  await page.waitForFunction((lang) => document.documentElement.lang.startsWith(lang), language);
}

/**
 * From the gateway's sign-in form to the provider's login page and back: clicks the
 * button labelled `button`, signs in as `login` with some password, and resolves once
 * the browser is back at `returnUri`, with the authorization request the page sent.
 */
async function signInThroughProvider(page, stack, { button, login, returnUri }) {
  const authorization = page.waitForRequest((request) => request.url().startsWith(`${stack.provider.issuer}/auth?`));
  await page.getByRole('button', { name: button, exact: true }).click();
  const sent = new URL((await authorization).url());
  // The provider's own login form (oidc-provider's development interactions).
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill(`any password ${randomBytes(4).toString('hex')}`);
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.waitForURL((url) => `${url.origin}${url.pathname}` === returnUri);
  return sent;
}

/** The authorization request is the console's: code flow, PKCE S256, the gateway's audience. */
function assertAuthorizationRequest(sent, returnUri) {
  const params = sent.searchParams;
  assert.equal(params.get('response_type'), 'code');
  assert.equal(params.get('client_id'), 'credit-console');
  assert.equal(params.get('redirect_uri'), returnUri);
  assert.equal(params.get('scope'), 'openid profile');
  assert.equal(params.get('code_challenge_method'), 'S256');
  assert.match(params.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
  assert.ok((params.get('state') ?? '').length >= 16, `state: ${params.get('state')}`);
  assert.equal(params.get('resource'), AUDIENCE);
}

/** The browser's token request carried the verifier of the challenge sent before. */
function assertTokenRequest(page, sent, returnUri) {
  const tokenRequests = page.providerRequests.filter(
    (request) => new URL(request.url()).pathname === '/token' && request.method() === 'POST',
  );
  assert.equal(tokenRequests.length, 1, 'one token request, from the browser');
  const form = new URLSearchParams(tokenRequests[0].postData() ?? '');
  assert.equal(form.get('grant_type'), 'authorization_code');
  assert.equal(form.get('client_id'), 'credit-console');
  assert.equal(form.get('redirect_uri'), returnUri);
  const challenge = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
  assert.equal(challenge, sent.searchParams.get('code_challenge'), 'the verifier matches the challenge');
}

/** What the page keeps in sessionStorage, by key. */
async function sessionKeys(page) {
  return page.evaluate(() => Object.keys(sessionStorage));
}

/** The friendly IDs the page's invoice table lists (one button per row). */
async function listedInvoices(page) {
  return (await page.locator('table tbody tr th[scope="row"] button').allTextContents()).map((text) => text.trim());
}

/** A directive → sources map of a Content-Security-Policy header. */
function parsePolicy(header) {
  assert.ok(header, 'the page has a Content-Security-Policy');
  const policy = new Map();
  for (const directive of header.split(';')) {
    const [name, ...sources] = directive.trim().split(/\s+/);
    if (name) policy.set(name.toLowerCase(), sources);
  }
  return policy;
}

for (const backend of BACKENDS) {
  describe(`single sign-on in the console (${backend})`, { concurrency: false }, () => {
    let stack;
    // The admin's view of the store, through the API, as the ground truth.
    let adminToken;

    before(async () => {
      stack = { backend, ...(await startStack(backend)) };
      adminToken = await clientToken(stack.provider.issuer, 'erp-admin');
    });
    after(async () => stack?.close());

    test('a. an admin signs in with SSO on /console and sees the invoices', async () => {
      const open = data(
        await gql(stack.gateway.base, adminToken, '{ invoices(status: OPEN, first: 100) { totalCount nodes { friendlyId } } }'),
      ).invoices;
      assert.ok(open.totalCount > 0, 'the demo store has open invoices');

      await withPage(stack, 'console', async (page) => {
        await page.goto(`${stack.gateway.base}/console`);
        const sent = await signInThroughProvider(page, stack, {
          button: SSO_BUTTON.en,
          login: 'ops',
          returnUri: stack.consoleUri,
        });
        assertAuthorizationRequest(sent, stack.consoleUri);

        // Signed in as the provider's `ops`, an admin: the Invoices screen, Open tab first.
        await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
        await page.getByText('Signed in as ops', { exact: true }).waitFor();
        for (const word of STATUS_TABS) await page.getByRole('tab', { name: word, exact: true }).waitFor();
        await page.getByRole('tab', { name: 'Open', exact: true }).and(page.locator('[aria-selected="true"]')).waitFor();
        for (const { friendlyId } of open.nodes.slice(0, 50)) {
          await page.getByRole('button', { name: friendlyId, exact: true }).waitFor();
        }
        assert.equal(await page.getByRole('button', { name: SSO_BUTTON.en }).count(), 0, 'the sign-in form is gone');
        assertTokenRequest(page, sent, stack.consoleUri);

        const address = new URL(page.url());
        assert.equal(`${address.origin}${address.pathname}`, stack.consoleUri);
        assert.doesNotMatch(address.search, /code=/, `the address bar: ${page.url()}`);
        assert.equal(address.search, '', `the address bar: ${page.url()}`);
        const keys = await sessionKeys(page);
        assert.ok(!keys.includes('cg.sso'), `sessionStorage: ${keys.join(', ')}`);
        assert.ok(keys.includes('cg.token'), `sessionStorage: ${keys.join(', ')}`);
        assert.deepEqual(page.problems, []);
        await shoot(page, 'sso-console-en');
      });
    });

    test("b. a customer signs in with SSO on /my-credits, in Spanish, and sees only the customer's invoices", async () => {
      const store = data(
        await gql(
          stack.gateway.base,
          adminToken,
          `query($mine: ID!) {
            all: invoices(first: 100) { totalCount nodes { friendlyId accountId } }
            mine: invoices(accountId: $mine, first: 100) { totalCount nodes { friendlyId accountId } }
          }`,
          { mine: DEMO_CUSTOMER },
        ),
      );
      const mine = store.mine.nodes.map((node) => node.friendlyId).sort();
      const others = store.all.nodes.filter((node) => node.accountId !== DEMO_CUSTOMER);
      assert.ok(mine.length > 0 && mine.length <= 50, `the demo customer has one page of invoices: ${mine.length}`);
      assert.ok(others.length > 0, 'the demo store has invoices of other accounts');

      await withPage(stack, 'my-credits', async (page) => {
        await page.goto(`${stack.gateway.base}/my-credits`);
        await chooseLanguage(page, 'es');
        const sent = await signInThroughProvider(page, stack, {
          button: SSO_BUTTON.es,
          login: 'customer',
          returnUri: stack.myCreditsUri,
        });
        assertAuthorizationRequest(sent, stack.myCreditsUri);

        // Back in Spanish (the language is kept for the tab), signed in as the customer.
        await page.getByRole('heading', { level: 1, name: 'Mis créditos' }).waitFor();
        await page.getByRole('button', { name: 'Cerrar sesión', exact: true }).waitFor();
        await page.getByRole('heading', { name: 'Tus facturas' }).waitFor();
        for (const friendlyId of mine) await page.getByRole('button', { name: friendlyId, exact: true }).waitFor();
        assert.deepEqual((await listedInvoices(page)).sort(), mine);
        for (const { friendlyId } of others) {
          assert.equal(await page.getByRole('button', { name: friendlyId, exact: true }).count(), 0, friendlyId);
        }
        assert.equal(await page.evaluate(() => document.documentElement.lang), 'es');
        assertTokenRequest(page, sent, stack.myCreditsUri);

        assert.equal(new URL(page.url()).search, '', `the address bar: ${page.url()}`);
        const keys = await sessionKeys(page);
        assert.ok(!keys.includes('cg.sso'), `sessionStorage: ${keys.join(', ')}`);
        assert.deepEqual(page.problems, []);
        await shoot(page, 'sso-my-credits-es');
      });
    });

    test('c. a forged return (no sign-in started here) fails visibly and stays signed out', async (t) => {
      await withPage(stack, 'failed', async (page) => {
        await page.goto(`${stack.gateway.base}/console?code=forged&state=forged`);
        const message = page.getByText(SSO_FAILED.en);
        await message.waitFor();
        const shown = (await message.textContent()).trim();
        assert.ok(shown.length > SSO_FAILED.en.length, `a reason is given: ${shown}`);

        // Signed out: the sign-in form, no session, no token kept; the forged code never
        // went to the provider; the address bar is clean.
        await page.getByRole('button', { name: SSO_BUTTON.en, exact: true }).waitFor();
        await page.getByLabel('Token').waitFor();
        assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
        assert.equal(await page.getByRole('tab').count(), 0, 'no Invoices screen');
        const keys = await sessionKeys(page);
        assert.ok(!keys.includes('cg.token') && !keys.includes('cg.sso'), `sessionStorage: ${keys.join(', ')}`);
        assert.deepEqual(
          page.providerRequests.map((request) => request.url()),
          [],
          'nothing was sent to the provider',
        );
        assert.equal(new URL(page.url()).search, '', `the address bar: ${page.url()}`);

        await chooseLanguage(page, 'pt');
        await page.getByRole('button', { name: SSO_BUTTON.pt, exact: true }).waitFor();
        await page.getByRole('heading', { level: 2, name: 'Entrar', exact: true }).waitFor();
        // What the failure says once the reader switched languages (reported, not required).
        const switched = await page.locator('.field-error').allTextContents();
        t.diagnostic(`after switching to Portuguese the failure reads: ${JSON.stringify(switched)}`);
        assert.deepEqual(page.problems, []);
        await shoot(page, 'sso-failed-pt');
      });
    });

    test("d. the pages' Content-Security-Policy adds the provider's origin to connect-src, and nothing else", async () => {
      // The same binary without single sign-on, for the policy it serves otherwise.
      const dir = mkdtempSync(join(tmpdir(), 'cg-oidc-plain-'));
      const database = freshDatabase(backend, dir);
      let plain;
      try {
        plain = await startGateway({
          env: {
            ...process.env,
            DATABASE_URL: database.url,
            CREDIT_GATEWAY_SECRET: randomBytes(32).toString('hex'),
            RUST_LOG: 'warn',
          },
          dir,
          port: await freePort(),
        });
        const providerOrigin = new URL(stack.provider.issuer).origin;
        const without = parsePolicy((await fetch(`${plain.base}/console`)).headers.get('content-security-policy'));
        assert.ok(!without.get('connect-src').includes(providerOrigin));
        for (const path of ['/console', '/my-credits']) {
          const header = (await fetch(`${stack.gateway.base}${path}`)).headers.get('content-security-policy');
          const policy = parsePolicy(header);
          assert.deepEqual([...policy.keys()], [...without.keys()], `${path}: ${header}`);
          for (const [name, sources] of without) {
            const expected = name === 'connect-src' ? [...sources, providerOrigin] : sources;
            assert.deepEqual(policy.get(name).toSorted(), expected.toSorted(), `${path} ${name}: ${header}`);
          }
        }
      } finally {
        await plain?.stop();
        database.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
