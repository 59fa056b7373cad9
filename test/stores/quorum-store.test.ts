import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { StoreUnavailableError, TollgateConfigError } from '../../src/core/errors.js';
import { QuorumStore } from '../../src/stores/quorum/quorum-store.js';
import type { TollgateStore } from '../../src/core/store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { storeContract } from './store.contract.js';

let servers: RedisServer[] = [];
let nodes: RedisStore[] = [];
let quorum: QuorumStore;
/** The same nodes with room to answer a flood of 1000 calls on a busy machine: for the contract. */
let patientQuorum: QuorumStore;

beforeAll(async () => {
  servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
  // Reconnect quickly after a node comes back, so the tests need not wait for backoff.
  nodes = servers.map(
    (server) => new RedisStore({ url: server.url, options: { retryStrategy: () => 50 } }),
  );
  // Short node timeouts keep the failure tests below quick; the contract runs on a patient
  // quorum over the same nodes (closed with them).
  quorum = new QuorumStore({ stores: nodes, nodeTimeoutMs: 300 });
  patientQuorum = new QuorumStore({ stores: nodes, nodeTimeoutMs: 3_000 });
  await quorum.ready();
  // The quorum is ready with a majority; the contract runs on all three.
  await Promise.all(nodes.map((node) => node.ready()));
});

afterAll(async () => {
  await quorum?.close();
  await Promise.all(servers.map((server) => server.stop()));
});

// Every contract (idempotency, leases, rate limiting) on the quorum.
storeContract('QuorumStore (3 Redis nodes)', () => ({
  store: patientQuorum,
  elapse: (ms) => sleep(ms),
}));

/** Waits until every node's connection is back, after a test restarted one. */
async function allConnected(): Promise<void> {
  for (const node of nodes) {
    await expect.poll(() => node.client.status, { timeout: 5_000, interval: 20 }).toBe('ready');
  }
}

describe('QuorumStore when nodes fail', () => {
  const response = { status: 201, headers: [], body: Buffer.from('{"id":1}') };

  it('needs at least three stores', () => {
    expect(() => new QuorumStore({ stores: nodes.slice(0, 2) })).toThrow(TollgateConfigError);
  });

  it('keeps granting, completing and replaying with one node down', async () => {
    await servers[2]!.kill();
    try {
      expect(await quorum.begin('q:{one-down}', 'a', 'fp', 5_000)).toMatchObject({
        state: 'acquired',
      });
      expect((await quorum.begin('q:{one-down}', 'b', 'fp', 5_000)).state).toBe('in-progress');
      expect(await quorum.complete('q:{one-down}', 'a', response, 60_000)).toBe(true);
      expect((await quorum.begin('q:{one-down}', 'b', 'fp', 5_000)).state).toBe('completed');
    } finally {
      await servers[2]!.restart();
    }
  });

  it('never runs a duplicate when a node that granted the key restarts empty', async () => {
    // Every node must grant the first take: a node still reconnecting from an earlier test would
    // leave the key on exactly a majority, and losing one of those is more than a quorum survives.
    await allConnected();
    expect(await quorum.begin('q:{amnesia}', 'first', 'fp', 10_000)).toMatchObject({
      state: 'acquired',
    });
    // Node 0 loses everything it knew, as a failed-over master without the latest writes would.
    await servers[0]!.kill();
    await servers[0]!.restart();
    await allConnected();
    const duplicate = await quorum.begin('q:{amnesia}', 'duplicate', 'fp', 10_000);
    expect(duplicate.state).toBe('in-progress');
    // The duplicate's vote on the empty node was given back, so it blocks nobody.
    expect(await quorum.complete('q:{amnesia}', 'first', response, 60_000)).toBe(true);
    expect((await quorum.begin('q:{amnesia}', 'later', 'fp', 10_000)).state).toBe('completed');
  });

  it('reports the store unavailable, rather than guessing, when a majority is down', async () => {
    await Promise.all([servers[1]!.kill(), servers[2]!.kill()]);
    try {
      await expect(quorum.begin('q:{majority-down}', 'a', 'fp', 5_000)).rejects.toThrow(
        StoreUnavailableError,
      );
    } finally {
      await Promise.all([servers[1]!.restart(), servers[2]!.restart()]);
    }
    await expect
      .poll(async () => (await quorum.begin('q:{majority-back}', 'a', 'fp', 5_000)).state, {
        timeout: 5_000,
      })
      .toBe('acquired');
  });
});

/**
 * A node whose clock runs `skewUs` ahead of the others: every token it issues is its clock, so
 * every token it reports is shifted by the same amount (its own `last + 1` included). `down` makes
 * it refuse every call, as a node that cannot be reached does.
 */
function skewed(node: RedisStore, skewUs: number): { store: TollgateStore; down: boolean } {
  const state = { down: false, store: undefined as unknown as TollgateStore };
  const refuse = (): Promise<never> => Promise.reject(new Error('connection refused'));
  state.store = new Proxy(node, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'lock') {
        return async (...args: Parameters<RedisStore['lock']>) => {
          if (state.down) return refuse();
          const found = await target.lock(...args);
          return found.acquired ? { ...found, fencingToken: found.fencingToken + skewUs } : found;
        };
      }
      return (...args: unknown[]) =>
        state.down ? refuse() : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return state;
}

describe('QuorumStore fencing tokens', () => {
  // Known bug, not fixed here (the fix needs a store API change: see the commit message). The
  // second majority {1, 2} never saw node 0's clock, so nothing it issues exceeds node 0's token.
  it.fails(
    'issues a greater token to the next holder after a release, with clocks 1 s apart and a lease of 10 s',
    async () => {
      await allConnected();
      // Node 0's clock runs 1 s ahead of the others': far less than the lease apart.
      const ahead = skewed(nodes[0]!, 1_000_000);
      const skewedQuorum = new QuorumStore({
        stores: [ahead.store, nodes[1]!, nodes[2]!],
        nodeTimeoutMs: 300,
      });
      const key = 'q:{fence-after-release}';
      const first = await skewedQuorum.lock(key, 'first', 10_000);
      expect(first.acquired).toBe(true);
      expect(await skewedQuorum.release(key, 'first')).toBe(true);
      // The node ahead cannot be reached for the next take: the two others grant it.
      ahead.down = true;
      const second = await skewedQuorum.lock(key, 'second', 10_000);
      expect(second.acquired).toBe(true);
      if (!first.acquired || !second.acquired) return;
      // A downstream write that remembers the first holder's token must not refuse the second's.
      expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    },
  );
});
