/**
 * The types of `tollgate/client`, apart from its code: `client.ts` imports them as types only, so
 * the built `client.js` still imports nothing.
 */

/** The `fetch` the client calls: the global one by default, or any function shaped like it. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** What the client reports after each attempt (see `onAttempt`). */
export interface AttemptReport {
  /** 1 for the first attempt. */
  attempt: number;
  /** The Idempotency-Key the attempt was sent with: the same for every attempt of an operation. */
  key: string;
  /** The response's status; absent when the attempt got no response (a network failure). */
  status?: number;
  /** Whether the response was a replay of an earlier one (`Idempotent-Replayed: true`). */
  replayed: boolean;
  /** Why the attempt got no response: what `fetch` rejected with. */
  error?: unknown;
  /** How long the client waits before the next attempt; absent when this attempt was the last. */
  retryInMs?: number;
}

/** How `idempotentFetch` retries; every field is optional. */
export interface IdempotentFetchOptions {
  /** The `fetch` to call (default: `globalThis.fetch`, looked up on each call). */
  fetch?: FetchLike;
  /** The header the key is sent in (default `Idempotency-Key`). */
  headerName?: string;
  /** Attempts in all, the first included (default 5); 1 turns retrying off. */
  maxAttempts?: number;
  /** The backoff before the second attempt, doubled before each later one (default 250 ms). */
  baseDelayMs?: number;
  /**
   * The longest wait between two attempts (default 10 000 ms). The exponential backoff is capped
   * at it; a `Retry-After` asking for longer ends the retries and returns that response instead.
   */
  maxDelayMs?: number;
  /**
   * The deadline of the whole operation, every attempt and wait included, from the call (default:
   * none). An attempt still running then is aborted; a wait that would end after it is not taken.
   * It ends when `idempotentFetch` resolves: reading the returned body is the caller's.
   */
  timeoutMs?: number;
  /** Called after every attempt, before the wait that follows it: for logs, metrics, a UI. */
  onAttempt?: (report: AttemptReport) => void;
  /** A number in [0, 1) for the jitter (default `Math.random`); fixed in tests. */
  random?: () => number;
  /** Waits `ms`, rejecting early when `signal` aborts (default: a timer); instant in tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The time in ms since the epoch, for `timeoutMs` and `Retry-After` dates (default `Date.now`). */
  now?: () => number;
}

/** `fetch`'s own `init`, plus the key of the operation and how to retry it. */
export interface IdempotentRequestInit extends RequestInit, IdempotentFetchOptions {
  /**
   * The operation's key. Default: the `Idempotency-Key` in `headers`, else a new random UUID. Give
   * the same key to every call that is the same operation (a retry of a checkout, a second click).
   */
  idempotencyKey?: string;
}

/** What `idempotentFetch` resolves with: the last response, and how it was obtained. */
export interface IdempotentResult {
  /** The response of the last attempt, its body unread. Any status: check `response.ok`. */
  response: Response;
  /** The key every attempt was sent with: keep it to retry the same operation later. */
  key: string;
  /** How many requests were sent, this one included. */
  attempts: number;
  /** The last response was a replay of an earlier one (`Idempotent-Replayed: true`). */
  replayed: boolean;
}

/** Why `idempotentFetch` gave up without a response. */
export type IdempotentFetchFailure = 'network' | 'timeout' | 'aborted';
