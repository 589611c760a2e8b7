// How the connection to the gateway is doing, for the banner and the "live" badge.
//
// `reachable` turns false when an operation finds the gateway unreachable or answering
// 5xx / INTERNAL / SERVICE_UNAVAILABLE, and true again on the next good answer. While it
// is false, `transport.ts` probes the gateway with a tiny query, backing off, and
// refetches the screen once it answers: that is the "retrying…" of the banner.
import { createStore, useStore } from './store';

/** The live feed's socket: none, opening, open, or lost and being retried. */
export type LiveState = 'off' | 'connecting' | 'live' | 'lost';

export interface Health {
  reachable: boolean;
  live: LiveState;
}

export const health = createStore<Health>({ reachable: true, live: 'off' });

export function useHealth(): Health {
  return useStore(health);
}

export function setReachable(reachable: boolean): void {
  if (health.get().reachable !== reachable) health.set({ ...health.get(), reachable });
}

export function setLive(live: LiveState): void {
  if (health.get().live !== live) health.set({ ...health.get(), live });
}
