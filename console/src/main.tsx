import { ApolloProvider } from '@apollo/client/react';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, pageOf } from './App';
import { readConfig } from './config';
import { client } from './transport';
import './app.css';

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <ApolloProvider client={client}>
        <App config={readConfig()} page={pageOf(location.pathname)} />
      </ApolloProvider>
    </StrictMode>,
  );
}
