import type { RecordInvalidations, TollgateStore } from '../../core/store.js';
import { hasMajority } from './majority.js';

/**
 * Every node's announcements as one feed. A record the quorum no longer replays is gone from every
 * node that had it, so any node that removed it announces it; the feed is trusted while a
 * majority of the nodes' feeds are, since every deletion a majority confirmed reaches one of them.
 * Its epoch changes whenever any node's does, so a stretch in which one node's feed broke is never
 * taken for an unbroken one.
 */
export class QuorumInvalidations implements RecordInvalidations {
  private readonly feeds: RecordInvalidations[];
  private readonly seen: number[];
  private current = 0;
  private stretches = 0;

  constructor(
    stores: readonly TollgateStore[],
    private readonly majority: number,
  ) {
    this.feeds = stores.flatMap((store) => {
      const feed = store.invalidations?.();
      return feed === undefined ? [] : [feed];
    });
    this.seen = this.feeds.map(() => -1);
  }

  get epoch(): number {
    let trusted = 0;
    let changed = false;
    for (let i = 0; i < this.feeds.length; i++) {
      const epoch = (this.feeds[i] as RecordInvalidations).epoch;
      if (epoch !== 0) trusted++;
      if (epoch !== this.seen[i]) {
        this.seen[i] = epoch;
        changed = true;
      }
    }
    if (!hasMajority(trusted, this.majority)) return 0;
    if (changed || this.current === 0) this.current = ++this.stretches;
    return this.current;
  }

  listen(listener: (key: string) => void): void {
    for (const feed of this.feeds) feed.listen(listener);
  }
}
