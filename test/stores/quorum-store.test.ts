import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { StoreUnavailableError, TollgateConfigError } from '../../src/core/errors.js';
import { QuorumStore } from '../../src/stores/quorum/quorum-store.js';
import type { BeginResult, LockResult, TollgateStore } from '../../src/core/store.js';
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

/** A node as a test wraps it: see `wrapped`. */
interface WrappedNode {
  store: TollgateStore;
  /** Refuse every call, as a node that cannot be reached does. */
  down: boolean;
  /** Refuse `raiseToken` alone: the node granted the take, but cannot be told the quorum's token. */
  raiseDown: boolean;
  /** Calls per method, failed ones included. */
  calls: Record<string, number>;
}

/**
 * A node whose clock runs `skewUs` ahead of the others: every token it issues is its clock, so
 * every token it reports is shifted by the same amount (its own `last + 1` included), and a token
 * it is told is shifted back. `down` and `raiseDown` make it refuse calls; `calls` counts them.
 */
function wrapped(node: RedisStore, skewUs = 0): WrappedNode {
  const state: WrappedNode = {
    down: false,
    raiseDown: false,
    calls: {},
    store: undefined as unknown as TollgateStore,
  };
  const refuse = (): Promise<never> => Promise.reject(new Error('connection refused'));
  const shift = <T extends LockResult | BeginResult>(found: T): T =>
    'fencingToken' in found ? { ...found, fencingToken: found.fencingToken + skewUs } : found;
  state.store = new Proxy(node, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const name = String(property);
      const count = (): void => {
        state.calls[name] = (state.calls[name] ?? 0) + 1;
      };
      switch (property) {
        case 'lock':
          return async (...args: Parameters<RedisStore['lock']>) => {
            count();
            return state.down ? refuse() : shift(await target.lock(...args));
          };
        case 'begin':
          return async (...args: Parameters<RedisStore['begin']>) => {
            count();
            return state.down ? refuse() : shift(await target.begin(...args));
          };
        case 'raiseToken':
          return (key: string, owner: string, token: number) => {
            count();
            if (state.down || state.raiseDown) return refuse();
            return target.raiseToken(key, owner, token - skewUs);
          };
        default:
          return (...args: unknown[]) => {
            count();
            return state.down
              ? refuse()
              : (value as (...a: unknown[]) => unknown).apply(target, args);
          };
      }
    },
  });
  return state;
}

/** A quorum over the three nodes, node 0's clock `skewUs` ahead of the others'. */
function skewedQuorum(skewUs: number): { quorum: QuorumStore; wraps: WrappedNode[] } {
  const wraps = [wrapped(nodes[0]!, skewUs), wrapped(nodes[1]!), wrapped(nodes[2]!)];
  const store = new QuorumStore({ stores: wraps.map((wrap) => wrap.store), nodeTimeoutMs: 300 });
  return { quorum: store, wraps };
}

/** Waits until no node holds `key`: absent, or only the token a release leaves behind. */
async function freeOnEveryNode(key: string): Promise<void> {
  for (const node of nodes) {
    await expect
      .poll(async () => ((await node.client.get(key)) ?? 'r').slice(0, 1), { timeout: 2_000 })
      .toBe('r');
  }
}

describe('QuorumStore fencing tokens', () => {
  it('issues a greater token to the next holder after a release, with clocks 1 s apart and a lease of 10 s', async () => {
    await allConnected();
    // Node 0's clock runs 1 s ahead of the others': far less than the lease apart.
    const { quorum: skewed, wraps } = skewedQuorum(1_000_000);
    const key = 'q:{fence-after-release}';
    const first = await skewed.lock(key, 'first', 10_000);
    expect(first.acquired).toBe(true);
    // Nodes 1 and 2 were told node 0's token before the grant returned.
    expect((wraps[1]!.calls.raiseToken ?? 0) + (wraps[2]!.calls.raiseToken ?? 0)).toBeGreaterThan(
      0,
    );
    expect(await skewed.release(key, 'first')).toBe(true);
    // The node ahead cannot be reached for the next take: the two others grant it.
    wraps[0]!.down = true;
    const second = await skewed.lock(key, 'second', 10_000);
    expect(second.acquired).toBe(true);
    if (!first.acquired || !second.acquired) return;
    // A downstream write that remembers the first holder's token must not refuse the second's.
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
  });

  it('issues a greater token to the next request after a released begin, and the same to a re-sent one', async () => {
    await allConnected();
    const { quorum: skewed, wraps } = skewedQuorum(1_000_000);
    const key = 'q:{fence-begin}';
    const first = await skewed.begin(key, 'first', 'fp', 10_000);
    expect(first.state).toBe('acquired');
    // Re-sent by its owner: every node now reports the token the quorum handed out.
    expect(await skewed.begin(key, 'first', 'fp', 10_000)).toEqual(first);
    expect(await skewed.release(key, 'first')).toBe(true);
    wraps[0]!.down = true;
    const second = await skewed.begin(key, 'second', 'fp', 10_000);
    expect(second.state).toBe('acquired');
    if (first.state !== 'acquired' || second.state !== 'acquired') return;
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
  });

  it('refuses a take, and gives it back, when fewer than a majority can be told its token', async () => {
    await allConnected();
    const { quorum: skewed, wraps } = skewedQuorum(1_000_000);
    // Every node grants; only node 0 holds the largest token, and the two others cannot be told.
    wraps[1]!.raiseDown = true;
    wraps[2]!.raiseDown = true;
    const key = 'q:{fence-unheld}';
    const refused = await skewed.lock(key, 'first', 10_000);
    expect(refused.acquired).toBe(false);
    // As a split vote is: a short pause, not the lease.
    if (!refused.acquired) expect(refused.retryAfterMs).toBeLessThan(1_000);
    await freeOnEveryNode(key);
    // Nothing of it blocks the next take.
    wraps[1]!.raiseDown = false;
    expect((await skewed.begin(key, 'next', 'fp', 10_000)).state).toBe('acquired');
  });

  it('grants with one node that cannot be told the token, as long as a majority holds it', async () => {
    await allConnected();
    const { quorum: skewed, wraps } = skewedQuorum(1_000_000);
    wraps[2]!.raiseDown = true;
    const key = 'q:{fence-majority}';
    const first = await skewed.lock(key, 'first', 10_000);
    expect(first.acquired).toBe(true);
    expect(await skewed.release(key, 'first')).toBe(true);
    // Nodes 0 and 1 held it, so any majority shares one of them: node 2 (back to normal) and
    // node 1 together too.
    wraps[2]!.raiseDown = false;
    wraps[0]!.down = true;
    const second = await skewed.lock(key, 'second', 10_000);
    expect(second.acquired && first.acquired && second.fencingToken > first.fencingToken).toBe(
      true,
    );
  });

  it('asks no node again when every node issued the same token', async () => {
    await allConnected();
    const wraps = nodes.map((node) => wrapped(node));
    const even = new QuorumStore({ stores: wraps.map((wrap) => wrap.store), nodeTimeoutMs: 300 });
    const key = 'q:{fence-even}';
    // Each node keeps the same last token for the key, so each issues the one after it.
    const last = 2 ** 52;
    await Promise.all(nodes.map((node) => node.client.set(key, `r\n${last}`, 'PX', 10_000)));
    expect(await even.lock(key, 'first', 10_000)).toEqual({
      acquired: true,
      fencingToken: last + 1,
    });
    expect(wraps.map((wrap) => wrap.calls)).toEqual([{ lock: 1 }, { lock: 1 }, { lock: 1 }]);
  });
});
