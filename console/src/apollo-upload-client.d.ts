// apollo-upload-client ships JavaScript with JSDoc types only: the part we use.
declare module 'apollo-upload-client/UploadHttpLink.mjs' {
  import { ApolloLink } from '@apollo/client/link';

  export interface UploadHttpLinkOptions {
    uri?: string;
    headers?: Record<string, string>;
    credentials?: RequestCredentials;
    fetchOptions?: RequestInit;
    includeExtensions?: boolean;
    includeUnusedVariables?: boolean;
  }

  /** A terminating link: GraphQL multipart requests when the variables hold files. */
  export default class UploadHttpLink extends ApolloLink {
    constructor(options?: UploadHttpLinkOptions);
  }
}
