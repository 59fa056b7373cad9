/**
 * The client half of idempotency: `import { idempotentFetch } from 'tollgate/client'`.
 *
 * A wrapper over the standard `fetch` that gives one logical operation one `Idempotency-Key` and
 * sends the same key on every retry of it, so a server that deduplicates by key (Tollgate, Stripe,
 * any implementation of the IETF Idempotency-Key draft) runs the operation at most once however
 * often the client has to ask. It retries only what is safe and useful to retry: a network failure
 * (the request may or may not have arrived: the key makes asking again harmless), a 409 saying the
 * first request with the key is still running, a 429 and a 503. It never retries another 4xx: a 422
 * (the key was used with another request) or a 400 will not change by asking again.
 *
 * The built file imports nothing, from Node or anywhere else (a lint rule keeps it so: only types
 * come from `./client/`, and they are erased): it runs as it is in browsers, Node, Deno, Bun and
 * workers, and a browser can load the built `client.js` as an ES module without a bundler. See
 * docs/client.md.
 *
 * @example
 * ```ts
 * import { idempotentFetch, newIdempotencyKey } from 'tollgate/client';
 *
 * const checkoutKey = newIdempotencyKey(); // one per checkout, not one per click
 * const { response, replayed, attempts } = await idempotentFetch('/payments', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ amount: 25 }),
 *   idempotencyKey: checkoutKey,
 *   timeoutMs: 15_000,
 * });
 * ```
 */

import type {
  IdempotentFetchFailure,
  IdempotentFetchOptions,
  IdempotentRequestInit,
  IdempotentResult,
} from './client/types.js';

export type {
  AttemptReport,
  FetchLike,
  IdempotentFetchFailure,
  IdempotentFetchOptions,
  IdempotentRequestInit,
  IdempotentResult,
} from './client/types.js';

/**
 * `idempotentFetch` got no response it could return: every attempt failed on the network
 * (`network`), the deadline passed (`timeout`), or the caller's signal aborted (`aborted`). The
 * operation may still have run on the server: retry it with `key`, never with a new one.
 */
export class IdempotentFetchError extends Error {
  readonly reason: IdempotentFetchFailure;
  /** The operation's key: the one to retry with. */
  readonly key: string;
  /** Requests sent before giving up (0 if the signal had aborted before the first). */
  readonly attempts: number;

  constructor(reason: IdempotentFetchFailure, key: string, attempts: number, cause: unknown) {
    super(failureMessage(reason, key, attempts), { cause });
    this.name = 'IdempotentFetchError';
    this.reason = reason;
    this.key = key;
    this.attempts = attempts;
  }
}

function failureMessage(reason: IdempotentFetchFailure, key: string, attempts: number): string {
  const what =
    reason === 'network'
      ? `every attempt (${attempts}) failed on the network`
      : reason === 'timeout'
        ? `the deadline passed after ${attempts} attempt(s)`
        : `the signal aborted after ${attempts} attempt(s)`;
  return `${what}; the request may have run on the server: retry it with the same Idempotency-Key (${key})`;
}

/**
 * A new random key for one operation: a UUID v4 from `crypto.randomUUID()`, or built from
 * `crypto.getRandomValues()` where `randomUUID` is missing (browsers offer it only to pages served
 * over HTTPS or from localhost).
 */
export function newIdempotencyKey(): string {
  const crypto = (
    globalThis as {
      crypto?: { randomUUID?: () => string; getRandomValues?: (array: Uint8Array) => Uint8Array };
    }
  ).crypto;
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  if (typeof crypto?.getRandomValues !== 'function') {
    throw new Error(
      'newIdempotencyKey: this runtime has no Web Crypto (globalThis.crypto); pass idempotencyKey yourself',
    );
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // the RFC 9562 variant
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * `fetch` for one logical operation: sends it with one Idempotency-Key, and retries with the same
 * key until a response that is not worth retrying, the last attempt, the deadline or the signal.
 *
 * Retried: a rejected `fetch` (a network failure), 409 whose problem `type` ends in
 * `/request-in-progress` (or whose `code` is `TOLLGATE_IN_PROGRESS`), 429 and 503. Every other
 * response is returned as it is, whatever its status. The wait before attempt n+1 is a random
 * time in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))) (full jitter), and never less than the
 * response's `Retry-After` (seconds or an HTTP date).
 *
 * Resolves with the last response; rejects with `IdempotentFetchError` only when there is none.
 */
export async function idempotentFetch(
  input: string | URL | Request,
  init: IdempotentRequestInit = {},
): Promise<IdempotentResult> {
  const {
    idempotencyKey,
    fetch: fetchOption,
    headerName = 'Idempotency-Key',
    maxAttempts = 5,
    baseDelayMs = 250,
    maxDelayMs = 10_000,
    timeoutMs,
    onAttempt,
    random = Math.random,
    sleep = sleepFor,
    now = Date.now,
    signal: initSignal,
    ...requestInit
  } = init;
  checkCount('maxAttempts', maxAttempts, 1);
  checkCount('baseDelayMs', baseDelayMs, 0);
  checkCount('maxDelayMs', maxDelayMs, 0);
  if (timeoutMs !== undefined) checkCount('timeoutMs', timeoutMs, 0);
  const fetchImpl = fetchOption ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') {
    throw new TypeError('idempotentFetch: no global fetch in this runtime; pass the fetch option');
  }
  if (isSingleUse(requestInit.body)) {
    throw new TypeError(
      'idempotentFetch: a ReadableStream body or an async iterable body can be sent only once, and a retry sends it again; pass a string, Blob, FormData, URLSearchParams or buffer',
    );
  }
  const isRequest = typeof Request !== 'undefined' && input instanceof Request;
  // As for fetch: the init's signal, else the Request's own (which the init's would replace).
  const callerSignal = initSignal ?? (isRequest ? input.signal : undefined);
  const headers = new Headers(isRequest ? input.headers : undefined);
  new Headers(requestInit.headers).forEach((value, name) => headers.set(name, value));
  const key = idempotencyKey ?? headers.get(headerName) ?? newIdempotencyKey();
  headers.set(headerName, key);

  // One signal for every attempt and wait: it aborts with the caller's signal or at the deadline.
  const stop = new AbortController();
  let stopReason: IdempotentFetchFailure | undefined;
  const abort = (reason: IdempotentFetchFailure, cause: unknown): void => {
    if (stop.signal.aborted) return;
    stopReason = reason;
    stop.abort(cause);
  };
  const onCallerAbort = (): void => abort('aborted', callerSignal?.reason);
  callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  if (callerSignal?.aborted) onCallerAbort();
  const deadline = timeoutMs === undefined ? Infinity : now() + timeoutMs;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => abort('timeout', timeoutError(timeoutMs)), timeoutMs);

  let attempt = 0;
  const stopped = (): IdempotentFetchError =>
    new IdempotentFetchError(stopReason ?? 'aborted', key, attempt, stop.signal.reason);
  try {
    for (;;) {
      if (stop.signal.aborted) throw stopped();
      attempt += 1;
      let response: Response | undefined;
      let error: unknown;
      try {
        response = await fetchImpl(isRequest ? input.clone() : input, {
          ...requestInit,
          headers,
          signal: stop.signal,
        });
      } catch (failure) {
        // A fetch that our own signal aborted is not a network failure to retry.
        if (stop.signal.aborted) throw stopped();
        error = failure;
      }
      const replayed = response?.headers.get('idempotent-replayed') === 'true';
      let wait: number | undefined;
      let reason: IdempotentFetchFailure = 'network';
      const retryable =
        attempt < maxAttempts && (response === undefined || (await isRetryable(response)));
      // Reading a 409's body takes time: the signal or the deadline may have ended that read (and
      // the body with it), and then there is no response worth returning.
      if (stop.signal.aborted) throw stopped();
      if (retryable) {
        const retryAfter = response && retryAfterMs(response.headers.get('retry-after'), now());
        const backoff = random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        wait = Math.max(retryAfter ?? 0, backoff);
        // The server asked for a longer wait than the caller allows: its answer is the result.
        if (retryAfter !== undefined && retryAfter > maxDelayMs) wait = undefined;
        else if (now() + wait >= deadline) {
          wait = undefined;
          reason = 'timeout';
        }
      }
      onAttempt?.({
        attempt,
        key,
        replayed,
        ...(response ? { status: response.status } : { error }),
        ...(wait === undefined ? {} : { retryInMs: wait }),
      });
      if (wait === undefined) {
        if (response) return { response, key, attempts: attempt, replayed };
        throw new IdempotentFetchError(reason, key, attempt, error);
      }
      // A response not returned is read no further, so its connection is free for the retry.
      response?.body?.cancel().catch(() => undefined);
      // onAttempt may have aborted the signal: a wait that starts now would never hear it.
      if (stop.signal.aborted) throw stopped();
      try {
        await sleep(wait, stop.signal);
      } catch (failure) {
        if (stop.signal.aborted) throw stopped();
        throw failure;
      }
    }
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onCallerAbort);
  }
}

/**
 * `idempotentFetch` with options set once, for example the `fetch` to use: each call's own `init`
 * overrides them. Each call is still one operation with its own key.
 */
export function createIdempotentFetch(
  defaults: IdempotentFetchOptions,
): (input: string | URL | Request, init?: IdempotentRequestInit) => Promise<IdempotentResult> {
  return (input, init = {}) => idempotentFetch(input, { ...defaults, ...init });
}

/**
 * A body that is consumed by sending it: a ReadableStream, or any async iterable (Node's fetch
 * streams one, e.g. a `Readable`), which a retry would send empty under the same key.
 */
function isSingleUse(body: unknown): boolean {
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return true;
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/** Tollgate's in-progress problem type: its page, `…/request-in-progress.md`, or the bare slug. */
const IN_PROGRESS_TYPE = /\/request-in-progress(\.md)?$/;

/** 429 and 503 always; a 409 only when it says the first request with the key is still running. */
async function isRetryable(response: Response): Promise<boolean> {
  if (response.status === 429 || response.status === 503) return true;
  if (response.status !== 409) return false;
  try {
    const problem = (await response.clone().json()) as { type?: unknown; code?: unknown } | null;
    return (
      (typeof problem?.type === 'string' && IN_PROGRESS_TYPE.test(problem.type)) ||
      problem?.code === 'TOLLGATE_IN_PROGRESS'
    );
  } catch {
    // Not JSON: a 409 that does not say "in progress" is a conflict that asking again won't fix.
    return false;
  }
}

/**
 * `Retry-After` in ms from `now`: delta-seconds or an HTTP date (RFC 9110 §10.2.3); `undefined`
 * when absent or unreadable, so the backoff alone decides.
 */
function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function checkCount(option: string, value: number, min: number): void {
  if (
    !Number.isFinite(value) ||
    value < min ||
    (option === 'maxAttempts' && !Number.isInteger(value))
  ) {
    throw new RangeError(
      `idempotentFetch: ${option} must be ${option === 'maxAttempts' ? 'an integer' : 'a finite number'} >= ${min}, got ${String(value)}`,
    );
  }
}

function timeoutError(timeoutMs: number): Error {
  const message = `idempotentFetch: the deadline of ${timeoutMs} ms passed`;
  return typeof DOMException === 'function'
    ? new DOMException(message, 'TimeoutError')
    : new Error(message);
}

function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
