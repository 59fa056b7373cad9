import { performance } from 'node:perf_hooks';

/** Where the in-memory store and the engines read time, so tests can drive it with a fake clock. */
export interface Clock {
  /** Milliseconds since the epoch, never going backwards. */
  now(): number;
}

/**
 * The epoch time at which this process started, advanced by the monotonic clock: expiries and
 * leases must not move when the wall clock is stepped (NTP, a resumed VM). A step back would
 * stretch every lease by the step; a step forward would expire running leases, letting a
 * duplicate run.
 */
export const systemClock: Clock = { now: () => performance.timeOrigin + performance.now() };

/**
 * Resolves after `ms`, or as soon as `signal` aborts (it never rejects): the one wait of the core,
 * for retries and a standby's next try alike.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Resolves in the event loop's next check phase: where a store's answer to a call made now would
 * arrive at the earliest. A decision a local cache makes is handed over there rather than at once.
 * Under load, Node answers the requests read in one turn for markedly less CPU each when their
 * responses are all ended after that turn (as they are when a store's replies come in) than when
 * each is ended within the turn that read it.
 */
export function afterThisTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
