import { performance } from 'node:perf_hooks';

import { StoreUnavailableError, toError } from './errors.js';

/**
 * A store call still waiting for its answer, and the moment it is given up, on the monotonic
 * clock: a wall clock stepped back (NTP, a resumed VM) must not turn a 1 s deadline into a hang.
 * A class with methods rather than an object of closures: one allocation per store call, on a
 * path every protected request takes once or twice.
 */
class PendingCall {
  readonly expiresAt: number;

  constructor(
    private readonly what: string,
    private readonly ms: number,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.expiresAt = performance.now() + ms;
  }

  giveUp(): void {
    this.reject(
      new StoreUnavailableError(`the store did not answer ${this.what} within ${this.ms} ms`),
    );
  }

  answered(value: unknown): void {
    if (pending.delete(this)) this.resolve(value);
  }

  failed(error: unknown): void {
    if (!pending.delete(this)) return; // already given up: the late failure changes nothing
    this.reject(
      new StoreUnavailableError(`the store failed ${this.what}: ${toError(error).message}`, {
        cause: error,
      }),
    );
  }
}

/**
 * How often overdue calls are given up. A deadline fires between `ms` and `ms + SWEEP_MS` after
 * the call: one shared timer instead of a timer and a `Promise.race` per store call, which the
 * request path makes once or twice per request.
 */
const SWEEP_MS = 20;

const pending = new Set<PendingCall>();
let sweeper: NodeJS.Timeout | undefined;

function sweep(): void {
  const now = performance.now();
  let overdue: PendingCall[] | undefined;
  for (const call of pending) {
    if (call.expiresAt <= now) (overdue ??= []).push(call);
  }
  // Given up only after this turn's I/O has been read: after a stalled event loop (a long GC, a
  // frozen process) timers run before the sockets are read, and an answer that arrived in time
  // would otherwise be thrown away as late.
  if (overdue) setImmediate(giveUp, overdue);
  if (pending.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

function giveUp(calls: PendingCall[]): void {
  for (const call of calls) if (pending.delete(call)) call.giveUp();
}

/**
 * Runs a store call under a hard deadline. A store that fails or stays silent becomes a
 * `StoreUnavailableError`, so the route's policy decides: no request ever hangs on the store.
 */
export function withDeadline<T>(what: string, ms: number, call: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry = new PendingCall(what, ms, resolve as (value: unknown) => void, reject);
    pending.add(entry);
    if (!sweeper) {
      sweeper = setInterval(sweep, SWEEP_MS);
      // Waiting calls never keep the process alive on their own.
      sweeper.unref();
    }
    let answer: Promise<T>;
    try {
      answer = call();
    } catch (error) {
      entry.failed(error);
      return;
    }
    answer.then(
      (value) => entry.answered(value),
      (error: unknown) => entry.failed(error),
    );
  });
}
