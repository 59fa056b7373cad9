/**
 * How a store tells every process that it removed something a process may keep a copy of: an
 * idempotency record forgotten or given back, a rate-limit client reset or given units back. The
 * local caches (completed results, refused clients) are trusted only while this feed is sure to
 * deliver every such announcement.
 */
export interface RecordInvalidations {
  /**
   * The unbroken stretch the feed is in: a number that changes whenever an announcement may have
   * been missed (the subscription was lost, or has not confirmed itself lately), and 0 while no
   * announcement is sure to arrive. A cache uses only entries made in the current stretch.
   */
  readonly epoch: number;
  /** Calls `listener` with every key announced, by any process, from now on. */
  listen(listener: (key: string) => void): void;
}
