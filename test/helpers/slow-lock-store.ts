import type { LockResult } from '../../src/core/store.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

/**
 * An in-memory store whose first `lock` takes the key at once but answers only when `answer()` is
 * called: a take of a lease still on its way back, for whatever happens meanwhile.
 */
export class SlowLockStore extends MemoryStore {
  /** Resolves once the first `lock` has taken its key and waits to answer. */
  readonly taking: Promise<void>;
  private onTaking: () => void = () => undefined;
  private answered: () => void = () => undefined;
  private slow = true;

  constructor() {
    super();
    this.taking = new Promise<void>((resolve) => (this.onTaking = resolve));
  }

  /** Lets the first `lock` answer. */
  answer(): void {
    this.answered();
  }

  override async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    const taken = await super.lock(key, owner, ttlMs);
    if (!this.slow) return taken;
    this.slow = false;
    const answer = new Promise<void>((resolve) => (this.answered = resolve));
    this.onTaking();
    await answer;
    return taken;
  }
}
