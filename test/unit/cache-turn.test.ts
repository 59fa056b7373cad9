/**
 * A decision a local cache makes is handed over after the turn that asked for it, as a store's
 * answer would be, and from what the cache holds then. The store here is in memory with an
 * announcement feed the test drives, so an announcement can land exactly inside that turn.
 */
import { describe, expect, it } from 'vitest';

import { IdempotencyEngine } from '../../src/core/idempotency/engine.js';
import type { RecordInvalidations } from '../../src/core/store.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { ORDER_CREATED, orderPolicy, orderRequest } from '../helpers/order-request.js';

/** A MemoryStore whose announcements the test makes, on a feed that is always trusted. */
class AnnouncingStore extends MemoryStore {
  private readonly listeners: Array<(key: string) => void> = [];
  readonly feed: RecordInvalidations = {
    epoch: 1,
    listen: (listener) => void this.listeners.push(listener),
  };

  invalidations(): RecordInvalidations {
    return this.feed;
  }

  /** `begin` calls the store answered. */
  begins = 0;

  override begin(...args: Parameters<MemoryStore['begin']>): ReturnType<MemoryStore['begin']> {
    this.begins++;
    return super.begin(...args);
  }

  announce(key: string): void {
    for (const listener of this.listeners) listener(key);
  }
}

/** Resolves once the event loop has passed its check phase. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function completed(engine: IdempotencyEngine, key: string): Promise<string> {
  const first = await engine.begin(orderRequest(key), orderPolicy);
  if (first.action !== 'proceed') throw new Error(`expected proceed, got ${first.action}`);
  await first.execution.finish(ORDER_CREATED);
  return first.execution.key;
}

describe('a hit of the result cache', () => {
  it('is answered after the turn that asked, as a store would answer', async () => {
    const store = new AnnouncingStore();
    const engine = new IdempotencyEngine(store, { resultCache: true });
    await completed(engine, 'k-later');
    let answered = false;
    const replay = engine.begin(orderRequest('k-later'), orderPolicy).then((decision) => {
      answered = true;
      return decision;
    });
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(answered).toBe(false);
    await nextTurn();
    expect(answered).toBe(true);
    expect((await replay).action).toBe('replay');
  });

  it('is asked of the store when the record is announced removed within that turn', async () => {
    const store = new AnnouncingStore();
    const engine = new IdempotencyEngine(store, { resultCache: true });
    const storageKey = await completed(engine, 'k-announced');
    const asked = store.begins;
    // Without an announcement a replay comes from the process.
    expect((await engine.begin(orderRequest('k-announced'), orderPolicy)).action).toBe('replay');
    expect(store.begins).toBe(asked);
    const pending = engine.begin(orderRequest('k-announced'), orderPolicy);
    // Announced removed while the hit waits for its turn: the store is asked instead.
    store.announce(storageKey);
    expect((await pending).action).toBe('replay');
    expect(store.begins).toBe(asked + 1);
  });

  it('never keeps an answer asked for before the feed broke, even once the feed is back', async () => {
    let deliver!: () => void;
    const delivered = new Promise<void>((resolve) => (deliver = resolve));
    /** Its `complete` is applied at once and its answer slow on the way back. */
    class SlowAnswers extends AnnouncingStore {
      override async complete(...args: Parameters<MemoryStore['complete']>): Promise<boolean> {
        const kept = await super.complete(...args);
        await delivered;
        return kept;
      }
    }
    const store = new SlowAnswers();
    const feed = store.feed as { epoch: number };
    const engine = new IdempotencyEngine(store, { resultCache: true });
    const first = await engine.begin(orderRequest('k-stretch'), orderPolicy);
    if (first.action !== 'proceed') throw new Error(`expected proceed, got ${first.action}`);
    const finishing = first.execution.finish(ORDER_CREATED);
    await nextTurn();
    // Completed on the store, the answer on its way. The subscription drops, another process
    // forgets the record meanwhile (unheard: nobody listens), and the feed is back, in a new
    // stretch, before the answer arrives.
    feed.epoch = 0;
    (store as unknown as { records: { delete(key: string): void } }).records.delete(
      first.execution.key,
    );
    feed.epoch = 2;
    deliver();
    await finishing;
    expect((await engine.begin(orderRequest('k-stretch'), orderPolicy)).action).toBe('proceed');
  });
});
