// Runs graphql-http's server audit against a URL, with a bearer token on every request.
import { auditServer } from 'graphql-http';

const [url] = process.argv.slice(2);
const token = process.env.TOKEN;
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};
const results = await auditServer({ url, fetchFn });
let failed = 0;
for (const result of results) {
  if (result.status === 'ok') continue;
  failed += result.status === 'notice' ? 0 : 1;
  let body = '';
  try { body = result.response ? await result.response.text() : ''; } catch {}
  console.log(`${result.status.toUpperCase()} ${result.name}\n  ${result.reason}\n  ${result.response ? result.response.status + ' ' + result.response.headers.get('content-type') : ''} ${body.slice(0, 200)}`);
}
const count = (status) => results.filter((r) => r.status === status).length;
console.log(`audit: ${results.length} audits, ${count('ok')} ok, ${count('error')} errors, ${count('warn')} warnings, ${count('notice')} notices`);
process.exit(failed ? 1 : 0);
