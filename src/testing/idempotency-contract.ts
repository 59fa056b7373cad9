import { randomUUID } from 'node:crypto';

import type { IdempotencyStore, StoredResponse } from '../core/store.js';
import { patientIt, type ContractSetup, type ContractTestApi } from './api.js';

/**
 * The idempotency semantics every store must have (`begin`, `complete`, `markUnstorable`,
 * `release`, `renew`, `lock`): the suite Tollgate runs on its memory, Redis (single node, Cluster,
 * Sentinel) and quorum stores. Durations are short, because a real server really waits.
 */
export function idempotencyStoreContract(
  api: ContractTestApi,
  name: string,
  setup: ContractSetup<IdempotencyStore>,
): void {
  const { describe, expect } = api;
  const it = patientIt(api);
  describe(`${name}: idempotency store contract`, () => {
    const response: StoredResponse = {
      status: 201,
      headers: [
        ['content-type', 'application/json'],
        ['location', '/orders/1'],
      ],
      body: Buffer.from('{"id":1}'),
    };
    const freshKey = (): string => `contract:key:{${randomUUID()}}`;
    const ACQUIRED = { state: 'acquired' } as const;

    it('grants the lease to the first caller only', async () => {
      const { store } = setup();
      const key = freshKey();
      expect(await store.begin(key, 'a', 'fp', 5_000)).toMatchObject(ACQUIRED);
      const second = await store.begin(key, 'b', 'fp', 5_000);
      expect(second.state).toBe('in-progress');
      if (second.state === 'in-progress') {
        expect(second.retryAfterMs).toBeGreaterThan(4_000);
        expect(second.retryAfterMs).toBeLessThanOrEqual(5_000);
      }
    });

    it('treats a re-sent begin by the same owner as still acquired', async () => {
      const { store } = setup();
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      expect(await store.begin(key, 'a', 'fp', 5_000)).toMatchObject(ACQUIRED);
    });

    it('reports a different fingerprint as a mismatch without changing the record', async () => {
      const { store } = setup();
      const key = freshKey();
      await store.begin(key, 'a', 'fp-1', 5_000);
      expect(await store.begin(key, 'b', 'fp-2', 5_000)).toEqual({ state: 'mismatch' });
      expect(await store.complete(key, 'a', response, 10_000)).toBe(true);
      expect(await store.begin(key, 'c', 'fp-2', 5_000)).toEqual({ state: 'mismatch' });
    });

    it('replays exactly the stored status, headers and body bytes', async () => {
      const { store } = setup();
      const key = freshKey();
      const binary: StoredResponse = {
        ...response,
        body: Uint8Array.from([0, 255, 10, 13, 0, 128]),
      };
      await store.begin(key, 'a', 'fp', 5_000);
      expect(await store.complete(key, 'a', binary, 10_000)).toBe(true);
      const found = await store.begin(key, 'b', 'fp', 5_000);
      expect(found.state).toBe('completed');
      if (found.state !== 'completed') return;
      expect(found.response.status).toBe(201);
      expect(found.response.headers).toEqual(binary.headers);
      expect(Buffer.from(found.response.body).equals(Buffer.from(binary.body))).toBe(true);
    });

    it('replays text bodies byte for byte: multi-byte UTF-8, invalid UTF-8, and past 16 KB', async () => {
      const { store } = setup();
      const bodies = [
        Buffer.from('{"name":"Zoë 🚀","note":"line\nbreak"}', 'utf8'),
        // Latin-1 bytes that are not valid UTF-8: must not be decoded and re-encoded.
        Buffer.from('{"name":"Zo\u00eb"}', 'latin1'),
        // A truncated multi-byte sequence at the end.
        Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xf0, 0x9f, 0x9a])]),
        Buffer.from(`{"big":"${'é'.repeat(9_000)}"}`, 'utf8'),
      ];
      for (const body of bodies) {
        const key = freshKey();
        await store.begin(key, 'a', 'fp', 5_000);
        expect(await store.complete(key, 'a', { ...response, body }, 10_000)).toBe(true);
        const found = await store.begin(key, 'b', 'fp', 5_000);
        expect(found.state).toBe('completed');
        if (found.state !== 'completed') return;
        expect(found.response.headers).toEqual(response.headers);
        expect(Buffer.from(found.response.body).equals(body)).toBe(true);
      }
    });

    it('keeps an empty body empty', async () => {
      const { store } = setup();
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      await store.complete(key, 'a', { status: 204, headers: [], body: new Uint8Array(0) }, 10_000);
      const found = await store.begin(key, 'b', 'fp', 5_000);
      expect(found.state === 'completed' && found.response.body.byteLength).toBe(0);
      expect(found.state === 'completed' && found.response.status).toBe(204);
    });

    it('never lets a request that lost its lease overwrite a newer result', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      await store.begin(key, 'slow', 'fp', 150);
      await elapse(300);
      expect(await store.begin(key, 'fresh', 'fp', 5_000)).toMatchObject(ACQUIRED);
      expect(await store.complete(key, 'slow', response, 10_000)).toBe(false);
      expect(await store.renew(key, 'slow', 5_000)).toBe(false);
      expect(await store.release(key, 'slow')).toBe(false);
      expect(await store.complete(key, 'fresh', { ...response, status: 202 }, 10_000)).toBe(true);
      const found = await store.begin(key, 'other', 'fp', 5_000);
      expect(found.state === 'completed' && found.response.status).toBe(202);
    });

    it('treats a re-sent completion as done and changes nothing', async () => {
      const { store } = setup();
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      expect(await store.complete(key, 'a', response, 10_000)).toBe(true);
      expect(await store.complete(key, 'a', { ...response, status: 299 }, 10_000)).toBe(true);
      const found = await store.begin(key, 'b', 'fp', 5_000);
      expect(found.state === 'completed' && found.response.status).toBe(201);
    });

    it('releases only an in-progress lease held by the caller', async () => {
      const { store } = setup();
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      expect(await store.release(key, 'b')).toBe(false);
      expect(await store.release(key, 'a')).toBe(true);
      expect(await store.begin(key, 'b', 'fp', 5_000)).toMatchObject(ACQUIRED);
      await store.complete(key, 'b', response, 10_000);
      expect(await store.release(key, 'b')).toBe(false);
      expect((await store.begin(key, 'c', 'fp', 5_000)).state).toBe('completed');
    });

    it('lets an abandoned lease expire after the lease, not the retention', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      await store.begin(key, 'crashed', 'fp', 200);
      expect((await store.begin(key, 'retry', 'fp', 200)).state).toBe('in-progress');
      await elapse(350);
      expect(await store.begin(key, 'retry', 'fp', 5_000)).toMatchObject(ACQUIRED);
    });

    it('extends a lease that its owner renews', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 300);
      await elapse(150);
      expect(await store.renew(key, 'a', 600)).toBe(true);
      await elapse(300);
      expect((await store.begin(key, 'b', 'fp', 300)).state).toBe('in-progress');
    });

    it('keeps a completed result for the retention time, then forgets it', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      await store.complete(key, 'a', response, 300);
      expect((await store.begin(key, 'b', 'fp', 5_000)).state).toBe('completed');
      await elapse(450);
      expect(await store.begin(key, 'c', 'fp', 5_000)).toMatchObject(ACQUIRED);
    });

    it('forgets a record whatever it holds, and still issues a greater token after (forget, when the store has it)', async () => {
      const { store } = setup();
      if (!store.forget) return;
      const key = freshKey();
      const first = await store.begin(key, 'a', 'fp', 5_000);
      await store.complete(key, 'a', response, 60_000);
      expect(await store.forget(key)).toBe(true);
      expect(await store.forget(key)).toBe(false);
      const next = await store.begin(key, 'b', 'fp', 5_000);
      expect(next).toMatchObject(ACQUIRED);
      if (first.state === 'acquired' && next.state === 'acquired') {
        expect(next.fencingToken).toBeGreaterThan(first.fencingToken);
      }
    });

    it("raises its owner's token on a lease, never lowers it, and keeps the rest (raiseToken, when the store has it)", async () => {
      const { store } = setup();
      if (!store.raiseToken) return;
      const key = freshKey();
      const first = await store.begin(key, 'a', 'fp', 5_000);
      if (first.state !== 'acquired') throw new Error(`not acquired: ${first.state}`);
      // A quorum's token, from a node whose clock runs a second ahead.
      const raised = first.fencingToken + 1_000_000;
      expect(await store.raiseToken(key, 'b', raised)).toBe(false);
      expect(await store.begin(key, 'a', 'fp', 5_000)).toEqual(first);
      expect(await store.raiseToken(key, 'a', raised)).toBe(true);
      // Never lower: a smaller token is already held, and changes nothing.
      expect(await store.raiseToken(key, 'a', first.fencingToken)).toBe(true);
      expect(await store.begin(key, 'a', 'fp', 5_000)).toEqual({
        state: 'acquired',
        fencingToken: raised,
      });
      expect(await store.begin(key, 'b', 'fp-other', 5_000)).toEqual({ state: 'mismatch' });
      expect((await store.begin(key, 'b', 'fp', 5_000)).state).toBe('in-progress');
      expect(await store.complete(key, 'a', response, 60_000)).toBe(true);
      const replayed = await store.begin(key, 'b', 'fp', 5_000);
      expect(replayed).toMatchObject({ state: 'completed', response: { status: 201 } });
      if (replayed.state === 'completed') {
        expect(Buffer.from(replayed.response.body).toString()).toBe('{"id":1}');
      }
      // A finished result is nobody's lease any more, and a key nobody holds is not raised.
      expect(await store.raiseToken(key, 'a', raised + 1)).toBe(false);
      expect(await store.raiseToken(freshKey(), 'a', raised)).toBe(false);
      if (store.forget) {
        await store.forget(key);
        const next = await store.begin(key, 'c', 'fp', 5_000);
        expect(next.state === 'acquired' && next.fencingToken).toBeGreaterThan(raised);
      }
    });

    it('issues a greater token than a raised one after a release (raiseToken, when the store has it)', async () => {
      const { store } = setup();
      if (!store.raiseToken) return;
      const key = freshKey();
      const first = await store.begin(key, 'a', 'fp', 5_000);
      if (first.state !== 'acquired') throw new Error(`not acquired: ${first.state}`);
      const raised = first.fencingToken + 1_000_000;
      expect(await store.raiseToken(key, 'a', raised)).toBe(true);
      expect(await store.release(key, 'a')).toBe(true);
      expect(await store.raiseToken(key, 'a', raised + 1)).toBe(false);
      const next = await store.begin(key, 'b', 'fp', 5_000);
      expect(next.state === 'acquired' && next.fencingToken).toBeGreaterThan(raised);
    });

    it('remembers a result that could not be stored, owner-checked', async () => {
      const { store } = setup();
      const key = freshKey();
      await store.begin(key, 'a', 'fp', 5_000);
      expect(await store.markUnstorable(key, 'b', 'too-large', 10_000)).toBe(false);
      expect(await store.markUnstorable(key, 'a', 'too-large', 10_000)).toBe(true);
      expect(await store.begin(key, 'c', 'fp', 5_000)).toEqual({
        state: 'unstorable',
        reason: 'too-large',
      });
      expect(await store.begin(key, 'c', 'fp-other', 5_000)).toEqual({ state: 'mismatch' });
    });

    it('locks once per window and never releases before it expires', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      expect(await store.lock(key, 'a', 300)).toMatchObject({ acquired: true });
      const second = await store.lock(key, 'b', 300);
      expect(second.acquired).toBe(false);
      if (!second.acquired) expect(second.retryAfterMs).toBeGreaterThan(100);
      await elapse(450);
      expect(await store.lock(key, 'b', 300)).toMatchObject({ acquired: true });
    });

    it('gives a lock back only to its owner, and repeats a re-sent lock with its token', async () => {
      const { store } = setup();
      const key = freshKey();
      const first = await store.lock(key, 'a', 5_000);
      expect(first.acquired).toBe(true);
      expect(await store.lock(key, 'a', 5_000)).toEqual(first);
      expect(await store.release(key, 'b')).toBe(false);
      expect((await store.lock(key, 'b', 5_000)).acquired).toBe(false);
      expect(await store.release(key, 'a')).toBe(true);
      const next = await store.lock(key, 'b', 5_000);
      expect(next.acquired && first.acquired && next.fencingToken > first.fencingToken).toBe(true);
    });

    it('renews a lock for its owner alone: an exclusive lease', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      expect((await store.lock(key, 'a', 300)).acquired).toBe(true);
      await elapse(150);
      expect(await store.renew(key, 'b', 600)).toBe(false);
      expect(await store.renew(key, 'a', 600)).toBe(true);
      await elapse(300);
      // Past the first ttl: renewed, so still a's.
      expect((await store.lock(key, 'b', 300)).acquired).toBe(false);
      expect(await store.release(key, 'a')).toBe(true);
      expect((await store.lock(key, 'b', 300)).acquired).toBe(true);
    });

    it('issues a fencing token that grows with every take of a key, and repeats it to a re-sent begin', async () => {
      const { store, elapse } = setup();
      const key = freshKey();
      const tokens: number[] = [];
      const take = async (owner: string, leaseMs = 5_000): Promise<number> => {
        const result = await store.begin(key, owner, 'fp', leaseMs);
        if (result.state !== 'acquired') throw new Error(`not acquired: ${result.state}`);
        expect(Number.isSafeInteger(result.fencingToken)).toBe(true);
        tokens.push(result.fencingToken);
        return result.fencingToken;
      };
      const first = await take('a');
      // Re-sent by its owner: the same take, the same token.
      expect(await take('a')).toBe(first);
      tokens.pop();
      // Given back: the next take is a new one.
      await store.release(key, 'a');
      await take('b', 150);
      // Run out: a stale holder's token is lower than the new holder's.
      await elapse(300);
      await take('c');
      await store.complete(key, 'c', response, 150);
      // Completed, then forgotten: a new take still issues a greater token.
      await elapse(300);
      await take('d');
      for (let i = 1; i < tokens.length; i++) {
        expect(tokens[i]).toBeGreaterThan(tokens[i - 1] as number);
      }
      // Tokens are per key, but never go back for any key.
      const other = await store.begin(freshKey(), 'e', 'fp', 5_000);
      expect(other.state === 'acquired' && other.fencingToken).toBeGreaterThan(0);
    });

    it('grants one lease among many concurrent callers', async () => {
      const { store } = setup();
      const key = freshKey();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.begin(key, `owner-${i}`, 'fp', 5_000)),
      );
      expect(results.filter((result) => result.state === 'acquired')).toHaveLength(1);
      expect(results.filter((result) => result.state === 'in-progress')).toHaveLength(49);
    });
  });
}
