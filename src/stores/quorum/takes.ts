import type { TollgateStore } from '../../core/store.js';

/**
 * Where one `begin` or `lock` may have taken the key, so that a take the quorum does not grant is
 * given back on every node that granted it: those that already answered, and stragglers whose
 * grant arrives after the decision (a silent node runs the queued take once it resumes). A node
 * whose call failed may still have run it, so it is asked too; releasing is owner-checked, so it
 * never touches anyone else's lease.
 */
export class Takes {
  private givingBack = false;
  /** Nodes that granted, or may have (failed, or not answered yet). */
  private readonly mayHold = new Set<TollgateStore>();

  constructor(
    private readonly key: string,
    private readonly owner: string,
  ) {}

  watch<T>(store: TollgateStore, take: Promise<T>, granted: (found: T) => boolean): Promise<T> {
    this.mayHold.add(store);
    take.then(
      (found) => this.settled(store, granted(found)),
      () => this.settled(store, true),
    );
    return take;
  }

  /** Not granted: give back every take, now and as late grants arrive. */
  giveBack(): void {
    if (this.givingBack) return;
    this.givingBack = true;
    // A node that has not answered gets the release right behind its take, on the same connection.
    for (const store of this.mayHold) this.release(store);
  }

  private settled(store: TollgateStore, granted: boolean): void {
    if (!granted) {
      this.mayHold.delete(store);
      return;
    }
    if (this.givingBack) this.release(store);
  }

  private release(store: TollgateStore): void {
    // Best effort: a take that cannot be given back runs out with its lease.
    try {
      store.release(this.key, this.owner).catch(() => undefined);
    } catch {
      // A store that throws at once is no different from one that fails.
    }
  }
}
