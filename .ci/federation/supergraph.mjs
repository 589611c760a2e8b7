// The supergraph side: composition of the subgraphs' SDLs with @apollo/composition, and
// @apollo/gateway serving the composed supergraph in @apollo/server.

import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { Kind, parse, print } from 'graphql';

/** Composes `[{ name, url, sdl }]`; the result holds `errors` or `supergraphSdl`. */
export function compose(subgraphs) {
  return composeServices(subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })));
}

/** The arguments of each `@join__type` on `typeName` in a supergraph SDL, as plain values. */
export function joinTypes(supergraphSdl, typeName) {
  const type = parse(supergraphSdl).definitions.find(
    (d) => d.kind === Kind.OBJECT_TYPE_DEFINITION && d.name.value === typeName,
  );
  return (type?.directives ?? [])
    .filter((d) => d.name.value === 'join__type')
    .map((d) => Object.fromEntries(d.arguments.map((a) => [a.name.value, a.value.value ?? print(a.value)])));
}

/** The `@link` applications of a subgraph SDL: `[{ url, import: [names] }]`. */
export function links(sdl) {
  return parse(sdl)
    .definitions.filter((d) => d.kind === Kind.SCHEMA_EXTENSION || d.kind === Kind.SCHEMA_DEFINITION)
    .flatMap((d) => d.directives ?? [])
    .filter((d) => d.name.value === 'link')
    .map((d) => {
      const arg = (name) => d.arguments.find((a) => a.name.value === name)?.value;
      const imports = arg('import')?.values ?? [];
      // An import is a name ("@key") or an object ({ name: "@key", as: "@primaryKey" }).
      const names = imports.map((v) => v.value ?? v.fields.find((f) => f.name.value === 'name').value.value);
      return { url: arg('url')?.value, import: names };
    });
}

// Each subgraph request carries the caller's own token: the credit gateway scopes what
// it resolves by it, as for its own clients.
class ForwardAuthorization extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) request.http.headers.set('authorization', context.authorization);
  }
}

/** Serves `supergraphSdl` through @apollo/gateway on a free loopback port. */
export async function startSupergraph(supergraphSdl) {
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ url }) => new ForwardAuthorization({ url }),
  });
  // No stack traces, so that the tests can compare errors exactly.
  const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false });
  const { url } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: 0 },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  });
  return { url, stop: () => server.stop() };
}
