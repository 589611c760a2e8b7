// Builds the console into ../src/http/console/, which the gateway embeds with
// include_bytes!/include_str! under fixed names: index.html, app.js, app.css. So: one
// entry, no hashes, no code splitting, no other files, and the assets addressed where
// the gateway serves them (/console/assets/...).
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

// `npm run dev` proxies the API to a gateway you run yourself (`serve --demo`), and
// can offer its demo tokens the way the gateway does:
//   CG_GATEWAY=http://127.0.0.1:8000 CG_DEMO_ADMIN=<token> CG_DEMO_CUSTOMER=<token> npm run dev
// then open http://localhost:5173/console.
const gateway = process.env.CG_GATEWAY ?? 'http://127.0.0.1:8000';

/** In development only, fills in the page configuration the gateway writes at run time. */
function devConfig(): Plugin {
  const { CG_DEMO_ADMIN: admin, CG_DEMO_CUSTOMER: customer } = process.env;
  const demo = admin && customer ? { admin, customer } : null;
  return {
    name: 'credit-gateway-dev-config',
    apply: 'serve',
    transformIndexHtml: (html) => html.replace('{{CONFIG_JSON}}', JSON.stringify({ demo }).replace(/</g, '\\u003c')),
  };
}

export default defineConfig(({ command }) => ({
  base: command === 'build' ? '/console/assets/' : '/',
  plugins: [react(), devConfig()],
  build: {
    outDir: '../src/http/console',
    emptyOutDir: true,
    assetsDir: '',
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    modulePreload: false,
    sourcemap: false,
    // One file by design (the gateway serves fixed names): what matters is its gzipped
    // size, which the build prints (the budget is 300 KB).
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      output: {
        entryFileNames: 'app.js',
        assetFileNames: (asset) =>
          asset.names.some((name) => name.endsWith('.css')) ? 'app.css' : '[name][extname]',
        codeSplitting: false,
      },
    },
  },
  server: {
    proxy: {
      '/graphql': { target: gateway, ws: true },
      '/export': { target: gateway },
    },
  },
}));
