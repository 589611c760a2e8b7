// The help article's flows, in Debian's Chromium, against the real release binary on
// SQLite and on PostgreSQL: `node --test e2e/` (see e2e/README in console/README.md).
// Settings: CG_BINARY (default $CARGO_TARGET_DIR or ../target, then
// release/credit-gateway), CG_BACKENDS
// (default "sqlite,postgres"), CG_SCREENSHOTS (default e2e/screenshots).
//
// The pages are driven by their accessible names only, the contract of the console issue.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { startGateway } from './gateway.mjs';

const require = createRequire(import.meta.url);
const here = new URL('.', import.meta.url).pathname;
const targetDir = process.env.CARGO_TARGET_DIR ?? resolve(here, '../../target');
const binary = resolve(here, process.env.CG_BINARY ?? join(targetDir, 'release/credit-gateway'));
const backends = (process.env.CG_BACKENDS ?? 'sqlite,postgres').split(',');
const shots = resolve(here, process.env.CG_SCREENSHOTS ?? 'screenshots');
mkdirSync(shots, { recursive: true });

const DEMO_CUSTOMER = '22222222000122_CNPJ';
const STATUS_WORDS = {
  en: { OPEN: 'Open', PAID: 'Paid', CANCELLED: 'Cancelled', OVERDUE: 'Overdue' },
  es: { OPEN: 'Abierto', PAID: 'Pagado', CANCELLED: 'Cancelado', OVERDUE: 'Vencido' },
  pt: { OPEN: 'Aberto', PAID: 'Pago', CANCELLED: 'Cancelado', OVERDUE: 'Vencido' },
};
const LANGUAGE_NAMES = { en: 'English', es: 'Español', pt: 'Português' };

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
after(async () => browser?.close());

/** A fresh browser page (its own storage), with console errors collected. */
async function newPage(gateway, path, { locale = 'en-US' } = {}) {
  const context = await browser.newContext({ locale, acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(String(e)));
  await page.goto(`${gateway.base}${path}`);
  return page;
}

async function signInAsDemo(page, who) {
  await page.getByRole('button', { name: `Sign in as demo ${who}` }).click();
}

async function signInWithToken(page, token) {
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** The invoices of a status through the API, as the ground truth. */
async function invoicesOf(gateway, status, extra = '') {
  const data = await gateway.graphql(
    gateway.token(),
    `query($status: InvoiceStatus) { invoices(status: $status, first: 100 ${extra}) {
       totalCount nodes { id friendlyId orderId accountId status paymentLink version account { name } } } }`,
    { status },
  );
  return data.invoices;
}

async function tab(page, word) {
  const found = page.getByRole('tab', { name: word, exact: true });
  await found.click();
  await assert.doesNotReject(found.and(page.locator('[aria-selected="true"]')).waitFor());
  return found;
}

/** The friendly IDs the list shows, as buttons. */
function row(page, friendlyId) {
  return page.getByRole('button', { name: friendlyId, exact: true });
}

async function axeCheck(page, name) {
  // Evaluated, not added as a script tag: the page's CSP allows its own scripts only.
  await page.evaluate(readFileSync(require.resolve('axe-core'), 'utf8'));
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const { violations } = await axe.run(document, { resultTypes: ['violations'] });
    return violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `${name}: axe found ${JSON.stringify(serious)}`);
}

/** RFC 4180 records of a CSV text, and back. */
function parseCsv(text) {
  const rows = [[]];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { rows.at(-1).push(cell); cell = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      rows.at(-1).push(cell); cell = ''; rows.push([]);
    } else cell += c;
  }
  if (cell !== '' || rows.at(-1).length) rows.at(-1).push(cell);
  return rows.filter((r) => r.length > 1 || r[0]);
}
const toCsv = (rows) =>
  rows.map((r) => r.map((c) => (/[",\r\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c)).join(',')).join('\r\n') + '\r\n';

/** The file as LibreOffice Calc saves it after opening it: quoted text, numbers and
 * dates re-written its way. */
function savedBySpreadsheet(file) {
  const dir = mkdtempSync(join(tmpdir(), 'cg-calc-'));
  execFileSync('soffice', [
    `-env:UserInstallation=file://${dir}/profile`, '--headless',
    '--infilter=CSV:44,34,76,1',
    '--convert-to', 'csv:Text - txt - csv (StarCalc):44,34,76,1',
    '--outdir', dir, file,
  ], { stdio: 'ignore' });
  return join(dir, file.split('/').pop());
}

async function shoot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

for (const backend of backends) {
  describe(`the console and My Credits on ${backend}`, { concurrency: false }, () => {
    let gateway;
    before(async () => {
      gateway = await startGateway(binary, backend);
    });
    after(async () => gateway?.stop());

    test('each tab lists exactly its invoices, and the order ID search finds an order', async () => {
      const page = await newPage(gateway, '/console');
      await signInAsDemo(page, 'admin');
      for (const [status, word] of Object.entries(STATUS_WORDS.en)) {
        const expected = await invoicesOf(gateway, status);
        await tab(page, word);
        for (const invoice of expected.nodes) {
          await row(page, invoice.friendlyId).waitFor();
        }
        const others = (await invoicesOf(gateway, null)).nodes.filter((i) => i.status !== status);
        for (const invoice of others) {
          assert.equal(await row(page, invoice.friendlyId).count(), 0, `${invoice.friendlyId} under ${word}`);
        }
      }
      const open = await invoicesOf(gateway, 'OPEN');
      const order = open.nodes[0].orderId;
      await tab(page, 'Open');
      await page.getByLabel('Order ID').fill(order);
      const ofOrder = open.nodes.filter((i) => i.orderId === order);
      for (const invoice of ofOrder) await row(page, invoice.friendlyId).waitFor();
      const notOfOrder = open.nodes.filter((i) => i.orderId !== order);
      await page.waitForFunction(
        (ids) => ids.every((id) => ![...document.querySelectorAll('button')].some((b) => b.textContent.trim() === id)),
        notOfOrder.map((i) => i.friendlyId),
      );
      assert.deepEqual(page.problems, []);
      await page.context().close();
    });

    test('details show the invoice; Mark as paid asks, then moves it to Paid, and a second admin sees it live', async () => {
      const open = (await invoicesOf(gateway, 'OPEN')).nodes.find((i) => i.accountId !== DEMO_CUSTOMER);
      const watcher = await newPage(gateway, '/console');
      await signInAsDemo(watcher, 'admin');
      await tab(watcher, 'Open');
      await row(watcher, open.friendlyId).waitFor();

      const page = await newPage(gateway, '/console');
      await signInAsDemo(page, 'admin');
      await tab(page, 'Open');
      await row(page, open.friendlyId).click();
      const details = page.getByRole('region', { name: open.friendlyId }).or(page.getByRole('dialog', { name: open.friendlyId }));
      await details.getByText(open.account.name).first().waitFor();
      await details.getByText(open.orderId).first().waitFor();
      await shoot(page, `${backend}-console-details-en`);
      await page.getByRole('button', { name: 'Mark as paid', exact: true }).first().click();
      const confirm = page.getByRole('dialog').filter({ has: page.getByRole('button', { name: 'Mark as paid' }) });
      await confirm.waitFor();
      await confirm.getByRole('button', { name: 'Mark as paid', exact: true }).click();
      await assert.doesNotReject(async () => {
        for (let i = 0; i < 50; i++) {
          const now = await gateway.graphql(gateway.token(), `{ invoice(id: "${open.id}") { status } }`);
          if (now.invoice.status === 'PAID') return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('not paid');
      });
      // Gone from Open here and, without a reload, in the other admin's browser.
      await row(watcher, open.friendlyId).waitFor({ state: 'detached' });
      await tab(page, 'Paid');
      await row(page, open.friendlyId).waitFor();
      assert.deepEqual([...page.problems, ...watcher.problems], []);
      await page.context().close();
      await watcher.context().close();
    });

    test("a payment link set by an admin shows Pay on the customer's My Credits", async () => {
      const mine = (await invoicesOf(gateway, 'OPEN')).nodes.concat((await invoicesOf(gateway, 'OVERDUE')).nodes)
        .filter((i) => i.accountId === DEMO_CUSTOMER);
      const target = mine[0];
      // Start from no link, through the API, so the PAY button must appear.
      await gateway.graphql(
        gateway.token(),
        `mutation($id: ID!) { setPaymentLink(input: {id: $id, paymentLink: null}) { userErrors { code } } }`,
        { id: target.id },
      );
      const customer = await newPage(gateway, '/my-credits');
      await signInAsDemo(customer, 'customer');
      const card = customer.getByRole('row').filter({ hasText: target.friendlyId })
        .or(customer.getByRole('listitem').filter({ hasText: target.friendlyId }));
      await card.first().waitFor();
      assert.equal(await card.first().getByRole('link', { name: 'Pay' }).count(), 0);

      const admin = await newPage(gateway, '/console');
      await signInAsDemo(admin, 'admin');
      await admin.getByLabel('Order ID').fill(target.orderId);
      await row(admin, target.friendlyId).click();
      const link = 'https://pay.example.com/e2e/' + target.friendlyId;
      await admin.getByLabel('Payment link').fill(link);
      await admin.getByRole('button', { name: 'Save link' }).click();

      // A link is not a status change, which is what the page hears live: it shows on
      // the next read (here, a reload).
      await customer.reload();
      const pay = card.first().getByRole('link', { name: 'Pay' });
      await pay.waitFor();
      assert.equal(await pay.getAttribute('href'), link);
      assert.equal(await pay.getAttribute('target'), '_blank');
      assert.match(await pay.getAttribute('rel'), /noopener/);
      assert.match(await pay.getAttribute('rel'), /noreferrer/);
      await shoot(customer, `${backend}-my-credits-en`);
      await axeCheck(customer, 'my-credits');
      assert.deepEqual([...customer.problems, ...admin.problems], []);
      await customer.context().close();
      await admin.context().close();
    });

    test('export, edit as a spreadsheet would, a dry run showing the refused row, then the import', async () => {
      const page = await newPage(gateway, '/console');
      await signInAsDemo(page, 'admin');
      await tab(page, 'Open');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Export' }).or(page.getByRole('link', { name: 'Export' })).first().click(),
      ]);
      const rows = parseCsv(readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, ''));
      const header = rows[0];
      const status = header.indexOf('Status');
      const id = header.indexOf('Invoice ID');
      assert.ok(status >= 0 && id >= 0, header.join(','));
      const open = await invoicesOf(gateway, 'OPEN');
      assert.equal(rows.length - 1, open.totalCount, 'the export holds the Open tab');
      // Pay the first row; give the second an invoice id nobody has (line 3 of the file).
      const paid = [...rows[1]];
      paid[status] = 'Paid';
      const unknown = [...rows[2]];
      unknown[id] = 'NO-SUCH-INVOICE';
      const edited = toCsv([header, paid, unknown]);
      const typed = join(tmpdir(), `edited-${backend}.csv`);
      writeFileSync(typed, '\uFEFF' + edited);
      const file = savedBySpreadsheet(typed);

      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await page.getByText('Drop your CSV or .xlsx file here or choose one').waitFor();
      await page.locator('input[type=file]').setInputFiles(file);
      // The dry run lists the refused row with its line.
      const refused = page.getByRole('row').filter({ hasText: 'NO-SUCH-INVOICE' });
      await refused.waitFor();
      assert.equal((await refused.locator('td, th').first().textContent()).trim(), '3');
      await shoot(page, `${backend}-console-import-dry-run-en`);
      assert.equal(
        (await gateway.graphql(gateway.token(), `{ invoice(id: "${paid[id]}") { status } }`)).invoice.status,
        'OPEN',
        'a dry run changes nothing',
      );
      // Only the valid rows, or fix the file: here the unknown row is dropped.
      const fixed = join(tmpdir(), `good-${backend}.csv`);
      writeFileSync(fixed, '\uFEFF' + toCsv([header, paid]));
      const good = savedBySpreadsheet(fixed);
      await page.locator('input[type=file]').setInputFiles(good);
      await page.getByRole('button', { name: 'Import file' }).click();
      await assert.doesNotReject(async () => {
        for (let i = 0; i < 100; i++) {
          const now = await gateway.graphql(gateway.token(), `{ invoice(id: "${paid[id]}") { status } }`);
          if (now.invoice.status === 'PAID') return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('the import did not pay the invoice');
      });
      assert.deepEqual(page.problems, []);
      await page.context().close();
    });

    test('the workbook export and the aging report', async () => {
      const page = await newPage(gateway, '/console');
      await signInAsDemo(page, 'admin');
      await tab(page, 'Open');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Export .xlsx' }).click(),
      ]);
      assert.match(download.suggestedFilename(), /\.xlsx$/);
      const bytes = readFileSync(await download.path());
      assert.equal(bytes.subarray(0, 4).toString('latin1'), 'PK\x03\x04', 'a zip: a workbook');

      await page.getByRole('button', { name: 'Aging' }).click();
      const report = await gateway.graphql(
        gateway.token(),
        '{ receivablesAging { currencies { currency total { count } days1To30 { count } } } }',
      );
      const first = report.receivablesAging.currencies[0];
      assert.ok(first, 'the demo store has unpaid invoices');
      const table = page.getByRole('table', { name: new RegExp(`Unpaid invoices in ${first.currency}`) });
      await table.waitFor();
      const total = table.getByRole('row', { name: /Total unpaid/ });
      assert.match(await total.textContent(), new RegExp(String(first.total.count)));
      const bucket = table.getByRole('row', { name: /1–30 days/ });
      assert.match(await bucket.textContent(), new RegExp(String(first.days1To30.count)));
      await shoot(page, `${backend}-console-aging-en`);
      const [file] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download .xlsx' }).click(),
      ]);
      assert.match(file.suggestedFilename(), /^aging-\d{4}-\d{2}-\d{2}\.xlsx$/);
      assert.equal(readFileSync(await file.path()).subarray(0, 2).toString('latin1'), 'PK');
      assert.deepEqual(page.problems, []);
      await page.context().close();
    });

    test('a file that is not a CSV is refused with the server\'s message', async () => {
      const page = await newPage(gateway, '/console');
      await signInAsDemo(page, 'admin');
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      const png = join(tmpdir(), 'picture.png');
      writeFileSync(png, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
      await page.locator('input[type=file]').setInputFiles(png);
      await page.getByText(/not|binary|CSV/i).filter({ hasText: /./ }).first().waitFor();
      await shoot(page, `${backend}-console-import-refused-en`);
      await page.context().close();
    });

    test('an expired token asks to sign in again, and nothing typed is lost', async () => {
      const page = await newPage(gateway, '/console');
      // The gateway allows 30 s of clock skew: this token has 5 s left.
      await signInWithToken(page, gateway.token({ seconds: -25 }));
      await page.getByLabel('Order ID').fill('1375060513400-01');
      await new Promise((r) => setTimeout(r, 6000));
      await page.getByRole('tab', { name: 'Paid', exact: true }).click();
      await page.getByLabel('Token').waitFor();
      await signInAsDemo(page, 'admin');
      assert.equal(await page.getByLabel('Order ID').inputValue(), '1375060513400-01');
      await page.context().close();
    });

    if (backend === 'postgres') {
      test('the database going away shows a banner, and the console recovers when it returns', async () => {
        const page = await newPage(gateway, '/console');
        await signInAsDemo(page, 'admin');
        await tab(page, 'Open');
        gateway.proxy.cut();
        await tab(page, 'Paid').catch(() => {});
        const banner = page.getByRole('alert').filter({ hasText: /unavailable/i });
        await banner.waitFor({ timeout: 30_000 });
        await shoot(page, `${backend}-console-unavailable-en`);
        gateway.proxy.restore();
        await banner.waitFor({ state: 'detached', timeout: 60_000 });
        await tab(page, 'Open');
        await page.context().close();
      });
    }

    test('every screen in every language, and no serious accessibility violation', async () => {
      for (const [lang, words] of Object.entries(STATUS_WORDS)) {
        const page = await newPage(gateway, '/console');
        await signInAsDemo(page, 'admin');
        await page.getByLabel('Language').selectOption({ label: LANGUAGE_NAMES[lang] });
        for (const word of Object.values(words)) await page.getByRole('tab', { name: word, exact: true }).waitFor();
        await shoot(page, `${backend}-console-${lang}`);
        if (lang === 'en') await axeCheck(page, 'console');
        const aging = { en: 'Aging', es: 'ANTIGÜEDAD', pt: 'Aging' }[lang];
        await page.getByRole('button', { name: aging, exact: true }).click();
        await page.locator('#aging-report table').first().waitFor();
        await shoot(page, `${backend}-console-aging-${lang}`);
        if (lang === 'en') await axeCheck(page, 'console with the aging report');
        await page.getByRole('button', { name: aging, exact: true }).click();
        const customer = await newPage(gateway, '/my-credits');
        await signInAsDemo(customer, 'customer');
        await customer.getByLabel('Language').selectOption({ label: LANGUAGE_NAMES[lang] });
        const pay = { en: 'Pay', es: 'PAGAR', pt: 'Pagar' }[lang];
        await customer.getByRole('link', { name: pay }).first().waitFor();
        await shoot(customer, `${backend}-my-credits-${lang}`);
        await page.context().close();
        await customer.context().close();
      }
    });
  });
}
