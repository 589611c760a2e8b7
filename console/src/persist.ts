// Page state kept in sessionStorage (this tab only, gone when it closes): the console's
// filters and open invoice survive a reload and a new sign-in. Never localStorage: the
// token is kept the same way and must not outlive the tab.
import { useCallback, useState } from 'react';

export function readSession<T>(key: string): T | null {
  try {
    const raw = sessionStorage.getItem(key);
    return raw === null ? null : (JSON.parse(raw) as T);
  } catch {
    return null;
  }
}

export function writeSession(key: string, value: unknown): void {
  try {
    if (value === null || value === undefined) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the state simply does not survive a reload.
  }
}

/** `useState` whose value is also written to sessionStorage under `key`. */
export function useSessionState<T>(key: string, initial: () => T): [T, (update: (previous: T) => T) => void] {
  const [value, setValue] = useState<T>(() => readSession<T>(key) ?? initial());
  const update = useCallback(
    (change: (previous: T) => T) =>
      setValue((previous) => {
        const next = change(previous);
        writeSession(key, next);
        return next;
      }),
    [key],
  );
  return [value, update];
}
