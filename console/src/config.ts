// What the gateway tells the page when it serves it: the JSON it writes into
// <script id="cg-config" type="application/json"> (see index.html). In demo mode it
// carries ready-made tokens for one-click sign-in.

export interface DemoTokens {
  admin: string;
  customer: string;
}

export interface PageConfig {
  demo: DemoTokens | null;
}

export function readConfig(): PageConfig {
  const text = document.getElementById('cg-config')?.textContent ?? '';
  try {
    const parsed: unknown = JSON.parse(text);
    return { demo: demoTokens((parsed as { demo?: unknown } | null)?.demo) };
  } catch {
    // Not substituted (a page opened outside the gateway): no demo.
    return { demo: null };
  }
}

function demoTokens(value: unknown): DemoTokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const { admin, customer } = value as Record<string, unknown>;
  return typeof admin === 'string' && typeof customer === 'string' ? { admin, customer } : null;
}
