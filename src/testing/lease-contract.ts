import { randomUUID } from 'node:crypto';

import type { ExclusiveLease } from '../core/lease/exclusive-lease.js';
import { ExclusiveLeases } from '../core/lease/exclusive.js';
import { storageKey } from '../core/keys.js';
import type { IdempotencyStore, LockResult } from '../core/store.js';
import { patientIt, type ContractSetup, type ContractTestApi } from './api.js';

/** The storage key `ExclusiveLeases` (default namespace) holds the lease `name` under. */
const leaseKey = (name: string): string => storageKey('tollgate', 'lease', [name]);

/**
 * The lease semantics every store must have (`lock`, `renew`, `release` on a lock, and fencing
 * tokens), and `ExclusiveLeases` built on them: one holder at a time, handed over on release, taken
 * over once a dead holder's lease runs out. Durations are short, because a real server really
 * waits.
 */
export function leaseStoreContract(
  api: ContractTestApi,
  name: string,
  setup: ContractSetup<IdempotencyStore>,
): void {
  const { describe, expect } = api;
  const it = patientIt(api);
  const freshKey = (): string => `contract:lease:{${randomUUID()}}`;
  const tokenOf = (result: LockResult): number => {
    if (!result.acquired) throw new Error(`not acquired: retry after ${result.retryAfterMs} ms`);
    expect(Number.isSafeInteger(result.fencingToken)).toBe(true);
    expect(result.fencingToken).toBeGreaterThan(0);
    return result.fencingToken;
  };

  describe(`${name}: lease store contract`, () => {
    it('locks a key for its owner, and refuses every other owner until the lock expires', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      tokenOf(await store.lock(key, 'a', 300));
      const refused = await store.lock(key, 'b', 300);
      expect(refused.acquired).toBe(false);
      if (!refused.acquired) {
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(300);
      }
      await elapse(450);
      tokenOf(await store.lock(key, 'b', 300));
    });

    it('answers a lock re-sent by its owner with the same token', async () => {
      const { store } = setup();
      const key = freshKey();
      const first = await store.lock(key, 'a', 5_000);
      const token = tokenOf(first);
      expect(await store.lock(key, 'a', 5_000)).toEqual(first);
      expect(tokenOf(await store.lock(key, 'a', 5_000))).toBe(token);
      expect((await store.lock(key, 'b', 5_000)).acquired).toBe(false);
    });

    it('renews a lock for its owner only, and never a lock that ran out', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      tokenOf(await store.lock(key, 'a', 300));
      await elapse(150);
      expect(await store.renew(key, 'b', 600)).toBe(false);
      expect(await store.renew(key, 'a', 600)).toBe(true);
      // Past the first ttl, within the renewed one: still a's.
      await elapse(300);
      expect((await store.lock(key, 'b', 300)).acquired).toBe(false);
      // Past the renewed ttl: gone, and a renewal cannot bring it back.
      await elapse(450);
      expect(await store.renew(key, 'a', 600)).toBe(false);
      tokenOf(await store.lock(key, 'b', 5_000));
      expect(await store.renew(key, 'a', 600)).toBe(false);
      expect(await store.renew(freshKey(), 'a', 600)).toBe(false);
    });

    it("releases its owner's lock only", async () => {
      const { store } = setup();
      const key = freshKey();
      tokenOf(await store.lock(key, 'a', 5_000));
      expect(await store.release(key, 'b')).toBe(false);
      expect((await store.lock(key, 'b', 5_000)).acquired).toBe(false);
      expect(await store.release(key, 'a')).toBe(true);
      expect(await store.release(key, 'a')).toBe(false);
      tokenOf(await store.lock(key, 'b', 5_000));
      // a's lock is gone; releasing it again must not free b's.
      expect(await store.release(key, 'a')).toBe(false);
      expect((await store.lock(key, 'c', 5_000)).acquired).toBe(false);
      expect(await store.release(freshKey(), 'a')).toBe(false);
    });

    it('issues a greater token with every take: after a release, and after an expiry', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      const tokens = [tokenOf(await store.lock(key, 'a', 5_000))];
      await store.release(key, 'a');
      tokens.push(tokenOf(await store.lock(key, 'b', 150)));
      await elapse(300);
      tokens.push(tokenOf(await store.lock(key, 'c', 5_000)));
      await store.release(key, 'c');
      tokens.push(tokenOf(await store.lock(key, 'a', 5_000)));
      for (let i = 1; i < tokens.length; i++) {
        expect(tokens[i]).toBeGreaterThan(tokens[i - 1] as number);
      }
    });

    it("raises its owner's token on a lock, never lowers it, and keeps its expiry (raiseToken, when the store has it)", async () => {
      const { store, elapse } = setup();
      if (!store.raiseToken) return;
      const key = freshKey();
      const first = tokenOf(await store.lock(key, 'a', 400));
      // Within the lock's ttl of the store's own clock, as a quorum's token is.
      const raised = first + 1_000;
      expect(await store.raiseToken(key, 'b', raised)).toBe(false);
      expect(await store.raiseToken(key, 'a', raised)).toBe(true);
      expect(await store.raiseToken(key, 'a', first)).toBe(true);
      expect(tokenOf(await store.lock(key, 'a', 400))).toBe(raised);
      await elapse(200);
      expect(await store.raiseToken(key, 'a', raised + 1)).toBe(true);
      // Its expiry is the one it had: refused for what is left of it, then free.
      const refused = await store.lock(key, 'b', 400);
      expect(refused.acquired).toBe(false);
      if (!refused.acquired) {
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(200);
      }
      await elapse(350);
      expect(await store.raiseToken(key, 'a', raised + 2)).toBe(false);
      const next = tokenOf(await store.lock(key, 'b', 5_000));
      expect(next).toBeGreaterThan(raised + 1);
      // Given back: the token it was raised to stays behind, and the next take issues more.
      const far = next + 1_000_000;
      expect(await store.raiseToken(key, 'b', far)).toBe(true);
      expect(await store.release(key, 'b')).toBe(true);
      expect(tokenOf(await store.lock(key, 'c', 5_000))).toBeGreaterThan(far);
    });

    it('grants one lock among many concurrent callers', async () => {
      const { store } = setup();
      const key = freshKey();
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => store.lock(key, `owner-${i}`, 5_000)),
      );
      expect(results.filter((result) => result.acquired)).toHaveLength(1);
    });

    describe('ExclusiveLeases over the store', () => {
      /** Releases what a test still holds, so no keeper renews past its test. */
      const releaseAll = (leases: Array<ExclusiveLease | undefined>): Promise<unknown> =>
        Promise.all(leases.map((lease) => lease?.release()));

      it('has one holder at a time among many contenders', async () => {
        const { store } = setup();
        const name = randomUUID();
        // Each `ExclusiveLeases` stands for one process.
        const taken = await Promise.all(
          Array.from({ length: 5 }, () =>
            new ExclusiveLeases(store).tryAcquire(name, { ttl: '2s' }),
          ),
        );
        try {
          const holders = taken.filter((lease) => lease !== undefined);
          expect(holders).toHaveLength(1);
          expect(holders[0]?.held).toBe(true);
          expect(await new ExclusiveLeases(store).tryAcquire(name, { ttl: '2s' })).toBeUndefined();
        } finally {
          await releaseAll(taken);
        }
      });

      it('hands the lease over at once when its holder releases it, with a greater token', async () => {
        const { store } = setup();
        const name = randomUUID();
        const first = await new ExclusiveLeases(store).tryAcquire(name, { ttl: '2s' });
        let second: ExclusiveLease | undefined;
        try {
          expect(first?.held).toBe(true);
          expect(await new ExclusiveLeases(store).tryAcquire(name, { ttl: '2s' })).toBeUndefined();
          await first?.release();
          expect(first?.held).toBe(false);
          expect(first?.signal.aborted).toBe(true);
          second = await new ExclusiveLeases(store).tryAcquire(name, { ttl: '2s' });
          expect(second?.held).toBe(true);
          expect(second?.fencingToken).toBeGreaterThan(first?.fencingToken ?? Infinity);
        } finally {
          await releaseAll([first, second]);
        }
      });

      it('is taken over once a dead holder’s lease runs out, with a greater token', async () => {
        const { store, elapse } = setup();
        const name = randomUUID();
        // A holder that took the lease and died: nobody renews it.
        const dead = tokenOf(await store.lock(leaseKey(name), 'dead-holder', 300));
        const leases = new ExclusiveLeases(store);
        expect(await leases.tryAcquire(name, { ttl: '2s' })).toBeUndefined();
        await elapse(450);
        const next = await leases.tryAcquire(name, { ttl: '2s' });
        try {
          expect(next?.held).toBe(true);
          expect(next?.fencingToken).toBeGreaterThan(dead);
          // The dead holder cannot renew or release what is now another's.
          expect(await store.renew(leaseKey(name), 'dead-holder', 5_000)).toBe(false);
          expect(await store.release(leaseKey(name), 'dead-holder')).toBe(false);
          expect(await new ExclusiveLeases(store).tryAcquire(name, { ttl: '2s' })).toBeUndefined();
        } finally {
          await releaseAll([next]);
        }
      });
    });
  });
}
