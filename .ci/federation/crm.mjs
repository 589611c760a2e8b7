// The second subgraph, "crm": what a CRM knows of our accounts and invoices. It adds a
// relationship manager to Account, and follow-ups that point at invoices it cannot
// resolve itself, so that the supergraph must fetch them from the credit gateway.

import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Account @key(fields: "id") {
    id: ID!
    relationshipManager: String!
  }

  type Invoice @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type FollowUp {
    note: String!
    # Nullable: an invoice the caller may not see resolves to null in the credit gateway,
    # and the supergraph nulls the nearest nullable field above its non-null fields.
    invoice: Invoice
  }

  type Query {
    followUps: [FollowUp!]!
    accountsToCall: [Account!]!
  }
`);

/**
 * Serves crm on a free loopback port. `managers` maps account ids to their relationship
 * manager (the accounts to call, in order); `followUps` is a list of `{ note, invoiceId }`.
 */
export async function startCrm({ managers, followUps }) {
  const account = (id) => (managers.has(id) ? { id, relationshipManager: managers.get(id) } : null);
  const resolvers = {
    Query: {
      followUps: () => followUps.map(({ note, invoiceId }) => ({ note, invoice: { id: invoiceId } })),
      accountsToCall: () => [...managers.keys()].map(account),
    },
    Account: {
      __resolveReference: ({ id }) => account(id),
    },
  };
  const server = new ApolloServer({
    schema: buildSubgraphSchema({ typeDefs, resolvers }),
    // Traces are for Apollo's cloud, which is not here; this also quiets its start-up notice.
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });
  return { url, stop: () => server.stop() };
}
