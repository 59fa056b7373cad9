import { randomUUID } from 'node:crypto';

import type { CommittedResult, IdempotencyStore, StoredResponse } from '../core/store.js';
import { patientIt, type ContractSetup, type ContractTestApi } from './api.js';

/**
 * The semantics of a store whose record commits in the application's own transaction
 * (`IdempotencyStore.transactions`, as `PostgresStore` has): the record is owner-checked, counts
 * only once committed, survives only a commit, and is then replaced by the response. Runs nothing
 * on a store without `transactions`: call it only for one that has them.
 */
export function transactionalStoreContract(
  api: ContractTestApi,
  name: string,
  setup: ContractSetup<IdempotencyStore>,
): void {
  const { describe, expect } = api;
  const it = patientIt(api);
  const freshKey = (): string => `contract:tx:{${randomUUID()}}`;
  const result: CommittedResult = {
    status: 201,
    headers: [['location', '/payments/1']],
    json: '{"id":1,"note":"Zoë"}',
  };
  const response: StoredResponse = {
    status: 201,
    headers: [['content-type', 'application/json']],
    body: Buffer.from('{"id":1}'),
  };
  const transactionsOf = (store: IdempotencyStore) => {
    if (!store.transactions) throw new TypeError(`${name} has no transactions`);
    return store.transactions;
  };

  describe(`${name}: transactional record contract`, () => {
    it('answers a committed record with the result, and replaces it with the response', async () => {
      const { store } = setup();
      const transactions = transactionsOf(store);
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      const tx = await transactions.open();
      expect(await transactions.record(tx.client, key, 'a', result, 10_000)).toBe(true);
      await tx.commit();
      expect(await store.begin(key, 'b', 'fp', 5_000)).toEqual({ state: 'committed', result });
      expect(await store.begin(key, 'b', 'fp-other', 5_000)).toEqual({ state: 'mismatch' });
      // The holder's lease stays confirmed, and its failure path leaves the result alone.
      expect(await store.renew(key, 'a', 5_000)).toBe(true);
      expect(await store.release(key, 'a')).toBe(false);
      expect(await store.markUnstorable(key, 'a', 'too-large', 10_000)).toBe(true);
      expect((await store.begin(key, 'b', 'fp', 5_000)).state).toBe('committed');
      expect(await store.complete(key, 'b', response, 10_000)).toBe(false);
      expect(await store.complete(key, 'a', response, 10_000)).toBe(true);
      const found = await store.begin(key, 'c', 'fp', 5_000);
      expect(found.state === 'completed' && found.response.status).toBe(201);
    });

    it('keeps nothing of a record rolled back: the lease is still in progress', async () => {
      const { store } = setup();
      const transactions = transactionsOf(store);
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      const tx = await transactions.open();
      expect(await transactions.record(tx.client, key, 'a', result, 10_000)).toBe(true);
      await tx.rollback();
      expect((await store.begin(key, 'b', 'fp', 5_000)).state).toBe('in-progress');
      expect(await store.release(key, 'a')).toBe(true);
      expect((await store.begin(key, 'b', 'fp', 5_000)).state).toBe('acquired');
    });

    it('completes a recorded request over its committed record only', async () => {
      const { store } = setup();
      const transactions = transactionsOf(store);
      const committed = freshKey();
      await store.begin(committed, 'a', 'fp', 5_000);
      const tx = await transactions.open();
      await transactions.record(tx.client, committed, 'a', result, 10_000);
      await tx.commit();
      expect(await transactions.completeCommitted(committed, 'b', response, 10_000)).toBe(false);
      expect(await transactions.completeCommitted(committed, 'a', response, 10_000)).toBe(true);
      const found = await store.begin(committed, 'c', 'fp', 5_000);
      expect(found.state === 'completed' && found.response.status).toBe(201);
      // Rolled back: still in progress, so nothing is written and the caller is told.
      const rolledBack = freshKey();
      await store.begin(rolledBack, 'a', 'fp', 5_000);
      const other = await transactions.open();
      await transactions.record(other.client, rolledBack, 'a', result, 10_000);
      await other.rollback();
      expect(await transactions.completeCommitted(rolledBack, 'a', response, 10_000)).toBe(
        'not-committed',
      );
      expect((await store.begin(rolledBack, 'b', 'fp', 5_000)).state).toBe('in-progress');
    });

    it('records for the lease holder only, never after its lease ran out', async () => {
      const { store, elapse } = setup();
      const transactions = transactionsOf(store);
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 150);
      const tx = await transactions.open();
      expect(await transactions.record(tx.client, key, 'b', result, 10_000)).toBe(false);
      await elapse(300);
      expect(await transactions.record(tx.client, key, 'a', result, 10_000)).toBe(false);
      await tx.rollback();
      expect((await store.begin(key, 'b', 'fp', 5_000)).state).toBe('acquired');
    });

    it('makes a concurrent take wait for the transaction, then see its outcome', async () => {
      const { store } = setup();
      const transactions = transactionsOf(store);
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      const tx = await transactions.open();
      await transactions.record(tx.client, key, 'a', result, 10_000);
      const waiting = store.begin(key, 'b', 'fp', 5_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await tx.commit();
      // Never acquired: the key was the holder's, then committed.
      expect((await waiting).state === 'acquired').toBe(false);
      expect((await store.begin(key, 'b', 'fp', 5_000)).state).toBe('committed');
    });

    it('forgets a committed record after its retention', async () => {
      const { store, elapse } = setup();
      const transactions = transactionsOf(store);
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      const tx = await transactions.open();
      await transactions.record(tx.client, key, 'a', { ...result, json: undefined }, 200);
      await tx.commit();
      expect(await store.begin(key, 'b', 'fp', 5_000)).toEqual({
        state: 'committed',
        result: { ...result, json: undefined },
      });
      await elapse(350);
      expect((await store.begin(key, 'b', 'fp', 5_000)).state).toBe('acquired');
    });
  });
}
