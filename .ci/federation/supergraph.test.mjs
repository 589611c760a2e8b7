// Apollo Federation 2 conformance, with Apollo's own tools: the release binary with
// CREDIT_GATEWAY_FEDERATION=true is the subgraph "credit"; its `_service` SDL composes
// with a second subgraph ("crm", crm.mjs); @apollo/gateway serves the supergraph and
// resolves our entities through `_entities`, with the caller's token. On SQLite and on
// PostgreSQL; then a gateway without the setting, which must not be a subgraph at all.
// Run by .ci/federation/run (or `BIN=… node --test` here).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startCrm } from './crm.mjs';
import { post, startGateway } from './gateway.mjs';
import { compose, joinTypes, links, startSupergraph } from './supergraph.mjs';

// Order.id is a String!, Invoice.id and Account.id are ID!: one selection may not ask
// for `id` as both (fields of one response name must have one type), hence the alias.
const ENTITIES = `query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Invoice { id value }
    ... on Account { id name }
    ... on Order { orderId: id accountId }
  }
}`;

const NOTE_A = 'Confirm the payment date';
const NOTE_B = 'Offer an installment plan';

/** A GraphQL error without its details, for exact comparison. */
const brief = ({ message, path, extensions }) => ({ message, path, code: extensions?.code });

/**
 * What a response says, for exact comparison: status, data, errors, and the value
 * completion errors @apollo/gateway reports in `extensions.valueCompletion`.
 */
function outcome({ status, body }) {
  const said = { status, data: body.data };
  if (body.errors) said.errors = body.errors.map(brief);
  if (body.extensions?.valueCompletion) said.valueCompletion = body.extensions.valueCompletion.map(brief);
  if (body.unparsable !== undefined) said.unparsable = body.unparsable;
  return said;
}

for (const backend of ['sqlite', 'postgres']) {
  describe(`the gateway as a federation subgraph (${backend})`, () => {
    let credit;
    let crm;
    let supergraph;
    let supergraphSdl;
    let admin;
    // Two demo accounts with invoices, learned from the gateway: { account, invoice, order }.
    let a;
    let b;

    before(async () => {
      credit = await startGateway({ backend });
      admin = credit.token();
      const { invoices } = await credit.data(admin, '{ invoices(first: 100) { nodes { id accountId orderId } } }');
      const first = invoices.nodes[0];
      const other = invoices.nodes.find((n) => n.accountId !== first?.accountId);
      assert.ok(first && other, 'the demo store has invoices of two accounts');
      a = { account: first.accountId, invoice: first.id, order: first.orderId };
      b = { account: other.accountId, invoice: other.id, order: other.orderId };
      crm = await startCrm({
        managers: new Map([
          [a.account, 'Rita Gomes'],
          [b.account, 'Caio Lima'],
        ]),
        followUps: [
          { note: NOTE_A, invoiceId: a.invoice },
          { note: NOTE_B, invoiceId: b.invoice },
        ],
      });
    });

    after(async () => {
      try {
        await supergraph?.stop();
        await crm?.stop();
      } finally {
        await credit?.stop();
      }
    });

    /** Accounts a and b and their invoices as the gateway itself answers an admin. */
    function ownView() {
      return credit.data(
        admin,
        `query Own($a: ID!, $b: ID!, $ia: ID!, $ib: ID!) {
          a: account(id: $a) { id name }
          b: account(id: $b) { id name }
          ia: invoice(id: $ia) { id value status }
          ib: invoice(id: $ib) { id value status }
        }`,
        { a: a.account, b: b.account, ia: a.invoice, ib: b.invoice },
      );
    }

    test('1. our _service SDL composes with crm; Invoice, Account and Order are entities', async (t) => {
      const { _service: ours } = await credit.data(admin, '{ _service { sdl } }');
      const federation = links(ours.sdl).filter((l) => l.url?.startsWith('https://specs.apollo.dev/federation/'));
      assert.equal(federation.length, 1, `one federation @link in the SDL:\n${ours.sdl}`);
      assert.match(federation[0].url, /^https:\/\/specs\.apollo\.dev\/federation\/v2\.\d+$/);
      assert.ok(federation[0].import.includes('@key'), `@key imported: ${federation[0].import}`);
      t.diagnostic(`credit links ${federation[0].url}`);

      const theirs = await post(crm.url, '{ _service { sdl } }');
      const result = compose([
        { name: 'credit', url: credit.url, sdl: ours.sdl },
        { name: 'crm', url: crm.url, sdl: theirs.body.data._service.sdl },
      ]);
      for (const hint of result.hints ?? []) t.diagnostic(`composition hint: ${hint.toString()}`);
      assert.deepEqual(
        (result.errors ?? []).map((e) => e.message),
        [],
        'no composition errors (the diff lists them)',
      );

      supergraphSdl = result.supergraphSdl;
      for (const type of ['Invoice', 'Account', 'Order']) {
        assert.ok(
          joinTypes(supergraphSdl, type).some((j) => j.graph === 'CREDIT' && j.key === 'id' && j.resolvable !== false),
          `${type} is an entity of credit keyed by id: ${JSON.stringify(joinTypes(supergraphSdl, type))}`,
        );
      }
      assert.ok(joinTypes(supergraphSdl, 'Account').some((j) => j.graph === 'CRM' && j.key === 'id'));
    });

    test('2. @apollo/gateway serves the composed supergraph', async () => {
      assert.ok(supergraphSdl, 'no supergraph: composition failed (test 1)');
      supergraph = await startSupergraph(supergraphSdl);
      assert.deepEqual(outcome(await post(supergraph.url, '{ __typename }')), {
        status: 200,
        data: { __typename: 'Query' },
      });
    });

    test('3. an admin reads both subgraphs at once, values exactly as the gateway gives them', async () => {
      assert.ok(supergraph, 'no supergraph (tests 1 and 2)');
      const own = await ownView();
      assert.equal(typeof own.ia.value, 'string', 'money is a Decimal string');
      const answer = await post(
        supergraph.url,
        '{ accountsToCall { id name relationshipManager } followUps { note invoice { id value status } } }',
        { token: admin },
      );
      assert.deepEqual(outcome(answer), {
        status: 200,
        data: {
          accountsToCall: [
            { ...own.a, relationshipManager: 'Rita Gomes' },
            { ...own.b, relationshipManager: 'Caio Lima' },
          ],
          followUps: [
            { note: NOTE_A, invoice: own.ia },
            { note: NOTE_B, invoice: own.ib },
          ],
        },
      });
    });

    test("4. a customer gets its own invoice through the supergraph, and null for another account's", async () => {
      assert.ok(supergraph, 'no supergraph (tests 1 and 2)');
      const own = await ownView();
      const customer = credit.token(a.account);
      // The gateway's own rule, which `_entities` must follow.
      assert.deepEqual(await credit.data(customer, 'query($id: ID!) { invoice(id: $id) { id } }', { id: b.invoice }), {
        invoice: null,
      });
      const answer = await post(supergraph.url, '{ followUps { note invoice { id value status } } }', {
        token: customer,
      });
      // `_entities` answers null, without an error, for the other account's invoice; the
      // supergraph then nulls crm's reference (its non-null `value` never arrived) and
      // says so in `extensions.valueCompletion`, not in `errors`.
      assert.deepEqual(outcome(answer), {
        status: 200,
        data: {
          followUps: [
            { note: NOTE_A, invoice: own.ia },
            { note: NOTE_B, invoice: null },
          ],
        },
        valueCompletion: [
          {
            message: 'Cannot return null for non-nullable field Invoice.value.',
            path: ['followUps', 1, 'invoice', 'value'],
            code: 'INVALID_GRAPHQL',
          },
        ],
      });
    });

    test('5. _entities directly: an admin gets all three, another customer nulls, no token UNAUTHENTICATED', async () => {
      const representations = [
        { __typename: 'Invoice', id: a.invoice },
        { __typename: 'Account', id: a.account },
        { __typename: 'Order', id: a.order },
        { __typename: 'Invoice', id: 'NOPE' },
      ];
      const own = await credit.data(
        admin,
        'query($i: ID!, $a: ID!) { invoice(id: $i) { id value order { id accountId } } account(id: $a) { id name } }',
        { i: a.invoice, a: a.account },
      );
      const order = { orderId: own.invoice.order.id, accountId: own.invoice.order.accountId };
      const all = [{ id: own.invoice.id, value: own.invoice.value }, own.account, order, null];
      const ask = (token) => credit.post(ENTITIES, { token, variables: { representations } });

      assert.deepEqual(outcome(await ask(admin)), { status: 200, data: { _entities: all } }, 'admin');
      assert.deepEqual(outcome(await ask(credit.token(a.account))), { status: 200, data: { _entities: all } }, 'owner');
      assert.deepEqual(
        outcome(await ask(credit.token(b.account))),
        { status: 200, data: { _entities: [null, null, null, null] } },
        'a customer of another account',
      );

      // As every field without a token: UNAUTHENTICATED on the field (its wording aside).
      const anonymous = outcome(await ask(undefined));
      assert.deepEqual(
        { ...anonymous, errors: anonymous.errors?.map(({ path, code }) => ({ path, code })) },
        { status: 200, data: null, errors: [{ path: ['_entities'], code: 'UNAUTHENTICATED' }] },
        'no token',
      );
    });

    test('6. a malformed representation gets a clear GraphQL error, and the gateway goes on', async (t) => {
      // Clear: the message names what is wrong with the representation, which a caller
      // cannot tell from a lookup that found nothing (that one is a null, see test 5).
      const cases = [
        ['missing id', { __typename: 'Invoice' }, /\bid\b/],
        // The message names the entities there are (async-graphql does not hand us the
        // representation it could not take, so it cannot name `Nope`).
        ['unknown __typename', { __typename: 'Nope', id: a.invoice }, /Invoice, Account or Order/],
        ['missing __typename', { id: a.invoice }, /__typename/],
      ];
      for (const [name, representation, names] of cases) {
        await t.test(name, async () => {
          const said = outcome(await credit.post(ENTITIES, { token: admin, variables: { representations: [representation] } }));
          const shown = JSON.stringify(said);
          assert.ok(said.status < 500, `not a server error: ${shown}`);
          assert.ok(said.errors?.length, `a GraphQL error: ${shown}`);
          assert.ok(
            said.errors.every((e) => e.code && !e.code.startsWith('INTERNAL')),
            `coded, never an internal error: ${shown}`,
          );
          assert.deepEqual((said.data?._entities ?? []).filter((e) => e !== null), [], shown);
          assert.ok(credit.alive(), 'the gateway is still running');
          assert.equal(typeof (await credit.data(admin, '{ today }')).today, 'string', 'the next request is answered');
          assert.ok(
            said.errors.some((e) => names.test(e.message)),
            `the error names the problem (${names}): ${shown}`,
          );
        });
      }
    });
  });
}

describe('the gateway without CREDIT_GATEWAY_FEDERATION', () => {
  let plain;
  before(async () => {
    plain = await startGateway({ federation: false });
  });
  after(async () => {
    await plain?.stop();
  });

  test('7. it is no subgraph: no _service, _entities or _Any', async () => {
    const admin = plain.token();
    for (const [query, field] of [
      ['{ _service { sdl } }', '_service'],
      ['{ _entities(representations: []) { __typename } }', '_entities'],
    ]) {
      const said = outcome(await plain.post(query, { token: admin }));
      const shown = JSON.stringify(said);
      assert.ok(said.errors?.length, `${query} fails: ${shown}`);
      assert.ok(
        said.errors.every((e) => e.code === 'GRAPHQL_VALIDATION_FAILED' && e.message.includes(field)),
        `${query} fails validation, naming ${field}: ${shown}`,
      );
      assert.equal(said.data ?? null, null, shown);
    }
    const { __type, __schema } = await plain.data(
      admin,
      '{ __type(name: "_Any") { name } __schema { queryType { fields { name } } } }',
    );
    assert.equal(__type, null);
    const fields = __schema.queryType.fields.map((f) => f.name);
    assert.deepEqual(fields.filter((f) => f.startsWith('_')), []);
  });
});
