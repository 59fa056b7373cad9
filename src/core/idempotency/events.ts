/** What the idempotency engine reports besides its decisions, for logs and metrics. */

export type IdempotencyEvent =
  | { type: 'store-unavailable'; policy: 'reject' | 'allow'; error: Error }
  /** The lease was lost: the store says another request holds the key, or it ran out unconfirmed. */
  | { type: 'lease-lost'; key: string }
  /** Recording the result failed once; it is retried, with the lease kept, until it lands. */
  | { type: 'finish-retrying'; key: string; error: Error }
  /** Recording the result failed until the lease had certainly run out: a retry may run again. */
  | { type: 'finish-failed'; key: string; error: Error };

/** One line for an event, for whichever logger the adapter uses. */
export function describeIdempotencyEvent(event: IdempotencyEvent): string {
  switch (event.type) {
    case 'store-unavailable':
      return `store unavailable, request ${event.policy === 'allow' ? 'ran unprotected' : 'rejected with 503'}: ${event.error.message}`;
    case 'lease-lost':
      return `lost the in-progress lease of ${event.key}: another request may run it`;
    case 'finish-retrying':
      return `could not record the result of ${event.key} yet, retrying while the lease holds: ${event.error.message}`;
    case 'finish-failed':
      return `could not record the result of ${event.key}: ${event.error.message}`;
  }
}

/** The default: a warning on the console for each event. */
export function defaultEventReporter(event: IdempotencyEvent): void {
  console.warn(`tollgate: ${describeIdempotencyEvent(event)}`);
}
