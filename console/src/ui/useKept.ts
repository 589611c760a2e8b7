import { useRef } from 'react';

/**
 * The data of a read, or, while a refetch of the *same* read fails (the service is
 * down), the last data it gave: the screen keeps what it showed under the banner
 * rather than going blank, and never shows another filter's rows in its place.
 */
export function useKept<T>(data: T | undefined, key: string): T | undefined {
  const kept = useRef<{ key: string; data: T } | null>(null);
  if (data !== undefined) kept.current = { key, data };
  return data ?? (kept.current?.key === key ? kept.current.data : undefined);
}
