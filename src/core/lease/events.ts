import { quietWarnings, type StoreCallEvent } from '../report.js';

/** Where an event happened: the lease's name. */
export interface ExclusiveLeaseEventSite {
  area: 'lease';
  name: string;
}

/** What exclusive leases report, for logs and metrics; tell events apart by `type`. */
export type ExclusiveLeaseEvent = ExclusiveLeaseEventSite &
  (
    | { type: 'lease-acquired'; fencingToken: number }
    | { type: 'lease-lost'; reason: string }
    | { type: 'lease-released' }
    /** `runExclusive` or `lead` could not reach the store; it keeps trying. */
    | { type: 'lease-store-unavailable'; error: Error }
    /** The work `lead` ran failed; the lease was released, and this process contends again. */
    | { type: 'lease-work-failed'; error: Error }
    /** One store call (take, renewal, release). */
    | StoreCallEvent
  );

/** One line for an event, for whichever logger the app uses. */
export function describeExclusiveLeaseEvent(event: ExclusiveLeaseEvent): string {
  const lease = `the exclusive lease ${event.name}`;
  switch (event.type) {
    case 'lease-acquired':
      return `took ${lease} (fencing token ${event.fencingToken})`;
    case 'lease-lost':
      return `lost ${lease}: ${event.reason}`;
    case 'lease-released':
      return `released ${lease}`;
    case 'lease-store-unavailable':
      return `could not reach the store for ${lease}, trying again: ${event.error.message}`;
    case 'lease-work-failed':
      return `the work run under ${lease} failed, it was released: ${event.error.message}`;
    case 'store-call':
      return `${lease}: store ${event.operation} ${event.ok ? 'answered' : 'failed'} in ${event.durationMs.toFixed(1)} ms`;
  }
}

/**
 * The default reporter, used when no `onEvent` is given but a `warn` is: a lost lease, each lease
 * at most one line every 10 s through `write`.
 */
export function exclusiveLeaseWarnings(
  write: (line: string) => void,
): (event: ExclusiveLeaseEvent) => void {
  const warn = quietWarnings(write);
  return (event) => {
    if (event.type === 'lease-lost') {
      warn(`lease-lost:${event.name}`, describeExclusiveLeaseEvent(event));
    }
  };
}
