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

/** What one store's callers share: its readiness, asked once, and whether the line was said. */
interface StoreWatch {
  /** Settles true when ready, false (with `failure`) when the store says it never will be. */
  readonly ready: Promise<boolean>;
  failure: Error | undefined;
  said: boolean;
}

const watches = new WeakMap<TollgateStore, StoreWatch>();

/** Checks a wait's timeout once, where the options are given, so a typo fails there. */
export function waitTimeoutMs(options: WaitForStoreOptions | undefined): number {
  return options?.timeout === undefined
    ? DEFAULT_TIMEOUT_MS
    : toMilliseconds(options.timeout, 'waitForStore.timeout');
}

/**
 * Waits until `store` can serve requests, for at most `options.timeout`. While it cannot, `log`
 * (default `console.warn`) is called after a short quiet period with where the store is (the
 * password hidden) and the last reason it gave; once per store, so an app with many routes logs
 * one line, not one per route. Each caller waits its own timeout; the store is asked once.
 *
 * Resolves `{ ready: false, message }` when the time is up, or rejects with a
 * `StoreUnavailableError` carrying that message when `required` is set.
 *
 * @example
 * ```ts
 * const store = new RedisStore({ url: process.env.REDIS_URL! });
 * await waitForStore(store, { timeout: '10s', required: true }); // exits start-up if Redis is away
 * ```
 */
export async function waitForStore(
  store: TollgateStore,
  options: WaitForStoreOptions & { log?: (line: string) => void } = {},
): Promise<StoreReadiness> {
  const timeoutMs = waitTimeoutMs(options);
  const readiness = await waitFor(store, timeoutMs, options.log ?? console.warn);
  if (!readiness.ready && options.required) throw new StoreUnavailableError(readiness.message);
  return readiness;
}

function watch(store: TollgateStore & { ready(): Promise<void> }): StoreWatch {
  let watching = watches.get(store);
  if (!watching) {
    const created: StoreWatch = {
      failure: undefined,
      said: false,
      ready: store.ready().then(
        () => true,
        (error: unknown) => {
          created.failure = toError(error);
          // The store gave up (its connection ended): a later wait asks it afresh.
          watches.delete(store);
          return false;
        },
      ),
    };
    watching = created;
    watches.set(store, watching);
  }
  return watching;
}

async function waitFor(
  store: TollgateStore,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<StoreReadiness> {
  if (typeof store.ready !== 'function') return { ready: true };
  const watching = watch(store as TollgateStore & { ready(): Promise<void> });
  const started = performance.now();
  const timers: NodeJS.Timeout[] = [];
  const after = (ms: number): Promise<'waiting'> =>
    new Promise((resolve) => {
      timers.push(setTimeout(resolve, Math.max(0, ms), 'waiting'));
    });
  try {
    let outcome = await Promise.race([watching.ready, after(Math.min(QUIET_MS, timeoutMs))]);
    if (outcome === 'waiting') {
      if (!watching.said) {
        watching.said = true;
        log(
          `tollgate: waiting up to ${inSeconds(timeoutMs)} for the store ${where(store)}: ${reason(store, watching.failure)}`,
        );
      }
      outcome = await Promise.race([
        watching.ready,
        after(timeoutMs - (performance.now() - started)),
      ]);
    }
    if (outcome === true) return { ready: true };
    return {
      ready: false,
      message:
        `tollgate: cannot reach the store ${where(store)} after ${inSeconds(timeoutMs)}: ${reason(store, watching.failure)} ` +
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
