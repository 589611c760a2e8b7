// GraphQL Code Generator: typed operations from the gateway's own schema.
//
// Every `graphql(`...`)` call under src/ is checked against ../schema.graphql and
// typed into src/gql/ (committed). A schema change that breaks an operation fails
// `npm run build` here, before it can break the console in a browser.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        // Money and dates stay strings: a Decimal is never parsed into a float.
        scalars: {
          Date: 'string',
          DateTime: 'string',
          Decimal: 'string',
          Upload: 'File',
        },
        strictScalars: true,
        useTypeImports: true,
        skipTypename: false,
      },
    },
  },
};

export default config;
