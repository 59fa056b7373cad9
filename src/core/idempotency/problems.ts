import { retryAfterSeconds, storeUnavailableProblem, TollgateHttpError } from '../errors.js';

/** The rejections of the idempotency engine, one function per row of the contract's table. */

export const keyMissing = (headerName: string): TollgateHttpError =>
  new TollgateHttpError({
    code: 'TOLLGATE_KEY_MISSING',
    status: 400,
    slug: 'idempotency-key-missing',
    title: `Missing ${headerName} header`,
    detail: `This endpoint requires an ${headerName} header: send a unique value (e.g. a UUID) per operation and reuse it when retrying.`,
  });

export const keyReused = (headerName: string): TollgateHttpError =>
  new TollgateHttpError({
    code: 'TOLLGATE_KEY_REUSED',
    status: 422,
    slug: 'idempotency-key-reused',
    title: `${headerName} reused with a different request`,
    detail: `This ${headerName} was already used with a different request (another body, path or fingerprinted header). Use a new key for a new operation.`,
  });

/**
 * How soon a duplicate is told to come back while the first request runs. The remaining lease says
 * nothing about when the handler will finish (the lease is renewed while it runs, so it always
 * looks nearly full), and most handlers finish in well under a second or two: a short poll gets
 * the client its result soon after it exists, where the lease (often 30 s) would keep it waiting.
 * A client that has polled a while backs off further on its own.
 */
const IN_PROGRESS_RETRY_MS = 1_000;

/** 409: the first request with the key is still running. `remainingLeaseMs` caps the wait. */
export const inProgress = (remainingLeaseMs: number): TollgateHttpError =>
  new TollgateHttpError({
    code: 'TOLLGATE_IN_PROGRESS',
    status: 409,
    slug: 'request-in-progress',
    title: 'A request with this key is still in progress',
    detail:
      'The first request with this key has not finished yet. Retry after the time in Retry-After to get its result.',
    headers: {
      'Retry-After': retryAfterSeconds(Math.min(remainingLeaseMs, IN_PROGRESS_RETRY_MS)),
    },
  });

export const duplicateLocked = (retryAfterMs: number): TollgateHttpError =>
  new TollgateHttpError({
    code: 'TOLLGATE_DUPLICATE',
    status: 409,
    slug: 'duplicate-request',
    title: 'Duplicate request',
    detail:
      'The same request was received moments ago and is not run twice. A new one is accepted after Retry-After.',
    headers: { 'Retry-After': retryAfterSeconds(retryAfterMs) },
  });

export const notReplayable = (reason: 'too-large' | 'streamed'): TollgateHttpError =>
  new TollgateHttpError({
    code: 'TOLLGATE_NOT_REPLAYABLE',
    status: 409,
    slug: 'response-not-replayable',
    title: 'The result of this request cannot be replayed',
    detail:
      reason === 'too-large'
        ? 'The request with this key already ran, but its response was too large to keep. It is not run again.'
        : 'The request with this key already ran, but its response was streamed and not kept. It is not run again.',
    extensions: { reason },
  });

export const storeUnavailable = (): TollgateHttpError =>
  storeUnavailableProblem('Duplicate protection');

export const bodyNotReadable = (contentType: string | undefined): TollgateHttpError =>
  new TollgateHttpError({
    code: 'TOLLGATE_BODY_NOT_READABLE',
    status: 415,
    slug: 'body-not-readable',
    title: 'Unsupported request body',
    detail: `This endpoint recognises duplicates by their body, and cannot read a body of type ${contentType ?? '(none given)'}. Send JSON.`,
  });
