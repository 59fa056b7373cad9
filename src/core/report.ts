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
