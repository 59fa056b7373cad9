/** What a store says about itself when asked (`health()`): for readiness probes and dashboards. */
export interface StoreHealth {
  /** `up`: the store answered in time and can serve requests; `down`: it cannot, now. */
  status: 'up' | 'down';
  /** How long the check took, in milliseconds (the round trip of a Redis `PING`). */
  latencyMs: number;
  /** Why it is down, or what was checked; never a password. */
  detail?: string;
  /** For a store made of several (`QuorumStore`): each node's own health, in order. */
  nodes?: readonly StoreHealth[];
}

/** How long a health check may take. */
export interface StoreHealthOptions {
  /** A store slower than this is reported down. Default 1000 ms. */
  timeoutMs?: number;
}
