import { toMilliseconds, type Duration } from './duration.js';
import { errorPage, StoreUnavailableError, toError } from './errors.js';
import type { TollgateStore } from './store.js';

/**
 * How an app waits for its store when it starts. A store that is down at start-up is not a
 * reason to hang in silence or to answer 503 with nobody knowing why: the wait is bounded, and
 * one line says where the store is and why it cannot be reached.
 */
export interface WaitForStoreOptions {
  /** How long to wait for the store. Default `'5s'`. */
  timeout?: Duration;
  /**
   * `true`: when the store is still unreachable after `timeout`, start-up fails with a
   * `StoreUnavailableError` (the process should exit). `false` (default): the app starts anyway,
   * and each route's `onStoreUnavailable` policy answers until the store connects.
   */
  required?: boolean;
}

/** How a wait ended. */
export type StoreReadiness = { ready: true } | { ready: false; message: string };

/** A store that connects within this says nothing. */
const QUIET_MS = 500;
const DEFAULT_TIMEOUT_MS = 5_000;

const waits = new WeakMap<TollgateStore, Promise<StoreReadiness>>();

/**
 * Waits until `store` can serve requests, for at most `options.timeout`. While it cannot, `log`
 * (default `console.warn`) is called once, after a short quiet period, with where the store is
 * (the password hidden) and the last reason it gave. Callers with the same store share one wait,
 * so an app with many routes logs one line, not one per route.
 *
 * Resolves `{ ready: false, message }` when the time is up, or rejects with a
 * `StoreUnavailableError` carrying that message when `required` is set.
 *
 * @example
 * ```ts
 * const store = new RedisStore({ url: process.env.REDIS_URL });
 * await waitForStore(store, { timeout: '10s', required: true }); // exits start-up if Redis is away
 * ```
 */
export async function waitForStore(
  store: TollgateStore,
  options: WaitForStoreOptions & { log?: (line: string) => void } = {},
): Promise<StoreReadiness> {
  const timeoutMs =
    options.timeout === undefined
      ? DEFAULT_TIMEOUT_MS
      : toMilliseconds(options.timeout, 'waitForStore.timeout');
  let wait = waits.get(store);
  if (!wait) {
    wait = waitOnce(store, timeoutMs, options.log ?? console.warn).then((readiness) => {
      // A later start (another module, a retry) waits anew rather than inheriting a failure.
      if (!readiness.ready) waits.delete(store);
      return readiness;
    });
    waits.set(store, wait);
  }
  const readiness = await wait;
  if (!readiness.ready && options.required) throw new StoreUnavailableError(readiness.message);
  return readiness;
}

async function waitOnce(
  store: TollgateStore,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<StoreReadiness> {
  if (typeof store.ready !== 'function') return { ready: true };
  const started = performance.now();
  let failure: Error | undefined;
  const ready = store.ready().then(
    () => true,
    (error: unknown) => {
      failure = toError(error);
      return false;
    },
  );
  const timers: NodeJS.Timeout[] = [];
  const after = (ms: number): Promise<'waiting'> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms), 'waiting');
      timers.push(timer);
    });
  try {
    let outcome = await Promise.race([ready, after(Math.min(QUIET_MS, timeoutMs))]);
    if (outcome === 'waiting') {
      log(
        `tollgate: waiting up to ${inSeconds(timeoutMs)} for the store ${where(store)}: ${reason(store, failure)}`,
      );
      outcome = await Promise.race([ready, after(timeoutMs - (performance.now() - started))]);
    }
    if (outcome === true) return { ready: true };
    return {
      ready: false,
      message:
        `tollgate: cannot reach the store ${where(store)} after ${inSeconds(timeoutMs)}: ${reason(store, failure)} ` +
        `(${errorPage('TOLLGATE_STORE_UNAVAILABLE')})`,
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}

function inSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function where(store: TollgateStore): string {
  return store.location ? `${store.kind} at ${store.location}` : store.kind;
}

function reason(store: TollgateStore, failure: Error | undefined): string {
  return failure?.message ?? store.connectionProblem?.() ?? 'it has not connected yet';
}
