import { performance } from 'node:perf_hooks';

import { withDeadline } from './deadline.js';
import { toError } from './errors.js';

/**
 * The application's event handler, made safe to call from the middle of a decision: a logger or
 * metrics hook that throws must never change what happens to a request (abort a retry loop, stop
 * a renewal, or reject a promise nobody awaits).
 */
export function neverThrows<Event>(report: (event: Event) => void): (event: Event) => void {
  return (event) => {
    try {
      report(event);
    } catch {
      // A broken reporter changes nothing.
    }
  };
}

/** The store operations the engines call, as `store-call` events name them. */
export type StoreOperation =
  'begin' | 'lock' | 'complete' | 'markUnstorable' | 'release' | 'renew' | 'consume';

/**
 * One store call, as every feature reports it (`type: 'store-call'`): how long it took from the
 * engine's side, and whether it answered.
 */
export interface StoreCallEvent {
  type: 'store-call';
  operation: StoreOperation;
  durationMs: number;
  ok: boolean;
  /** Why it failed (a `StoreUnavailableError`); `undefined` when `ok`. */
  error?: Error | undefined;
}

/** Told how one store call went: its duration, and the error when it failed or ran out of time. */
export type StoreCallObserver = (
  operation: StoreOperation,
  durationMs: number,
  error: Error | undefined,
) => void;

/**
 * A store call under its deadline, timed for `observe` when someone listens. Without a listener it
 * is `withDeadline` itself: no clock read and no extra promise on the request path.
 */
export function observedCall<T>(
  operation: StoreOperation,
  timeoutMs: number,
  call: () => Promise<T>,
  observe: StoreCallObserver | undefined,
): Promise<T> {
  if (observe === undefined) return withDeadline(operation, timeoutMs, call);
  const startedAt = performance.now();
  return withDeadline(operation, timeoutMs, call).then(
    (value) => {
      observe(operation, performance.now() - startedAt, undefined);
      return value;
    },
    (error: unknown) => {
      observe(operation, performance.now() - startedAt, toError(error));
      throw error;
    },
  );
}

/** How often the default logger writes the same kind of warning at most. */
const QUIET_INTERVAL_MS = 10_000;

/**
 * The default reporter of failures: one line per kind of event (`kind`) at most every 10 s, with
 * how many more were left out, so a store outage under load is a few lines, not one per request.
 */
export function quietWarnings(write: (line: string) => void): (kind: string, line: string) => void {
  const seen = new Map<string, { lastAt: number; skipped: number }>();
  return (kind, line) => {
    const now = performance.now();
    const entry = seen.get(kind);
    if (entry && now - entry.lastAt < QUIET_INTERVAL_MS) {
      entry.skipped++;
      return;
    }
    const skipped = entry?.skipped ?? 0;
    seen.set(kind, { lastAt: now, skipped: 0 });
    write(skipped > 0 ? `${line} (and ${skipped} more like it since the last warning)` : line);
  };
}

/** Where the default reporters write: the console, marked as Tollgate's. */
export const consoleWarning = (line: string): void => console.warn(`tollgate: ${line}`);
