/**
 * QuorumStore's decision rules, with scripted nodes that answer what each test says, when it says
 * so: which answers decide, which are waited for, what is given back, and what is reported.
 */
import { performance } from 'node:perf_hooks';

import { describe, expect, it } from 'vitest';

import { StoreUnavailableError, TollgateConfigError } from '../../src/core/errors.js';
import { QuorumStore } from '../../src/stores/quorum/quorum-store.js';
import type {
  BeginResult,
  RateLimitResult,
  StoredResponse,
  TollgateStore,
} from '../../src/core/store.js';

/** What a scripted node answers: a value now, a failure, or nothing until the test says so. */
type Script<T> = T | Error | 'silent' | Deferred<T>;

class Deferred<T> {
  resolve!: (value: T) => void;
  readonly promise = new Promise<T>((resolve) => (this.resolve = resolve));
}

function answer<T>(script: Script<T>): Promise<T> {
  if (script === 'silent') return new Promise<T>(() => undefined);
  if (script instanceof Error) return Promise.reject(script);
  if (script instanceof Deferred) return script.promise;
  return Promise.resolve(script);
}

/** A node that answers each operation as scripted, and records the releases it was sent. */
class ScriptedNode implements TollgateStore {
  readonly kind = 'scripted';
  begin_: Script<BeginResult> = new Error('begin not scripted');
  lock_: Script<Awaited<ReturnType<TollgateStore['lock']>>> = new Error('lock not scripted');
  vote_: Script<boolean> = new Error('not scripted');
  release_: Script<boolean> = false;
  consume_: Script<RateLimitResult> = new Error('consume not scripted');
  raise_: Script<boolean> = true;
  readonly released: string[] = [];
  /** The tokens `raiseToken` was sent. */
  readonly raised: number[] = [];

  begin(): Promise<BeginResult> {
    return answer(this.begin_);
  }
  lock(): Promise<Awaited<ReturnType<TollgateStore['lock']>>> {
    return answer(this.lock_);
  }
  complete(): Promise<boolean> {
    return answer(this.vote_);
  }
  markUnstorable(): Promise<boolean> {
    return answer(this.vote_);
  }
  renew(): Promise<boolean> {
    return answer(this.vote_);
  }
  release(_key: string, owner: string): Promise<boolean> {
    this.released.push(owner);
    return answer(this.release_);
  }
  consume(): Promise<RateLimitResult> {
    return answer(this.consume_);
  }
  raiseToken(_key: string, _owner: string, token: number): Promise<boolean> {
    this.raised.push(token);
    return answer(this.raise_);
  }
}

function cluster(timeoutMs = 1_000): { quorum: QuorumStore; nodes: ScriptedNode[] } {
  const nodes = [new ScriptedNode(), new ScriptedNode(), new ScriptedNode()];
  return { quorum: new QuorumStore({ stores: nodes, nodeTimeoutMs: timeoutMs }), nodes };
}

/** Scripts one field on every node, in node order. */
function script<K extends keyof ScriptedNode>(
  nodes: ScriptedNode[],
  field: K,
  ...scripts: Array<ScriptedNode[K]>
): void {
  scripts.forEach((value, index) => ((nodes[index] as ScriptedNode)[field] = value));
}

async function timed<T>(promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await promise;
  return { value, ms: performance.now() - started };
}

/** Settles pending promise callbacks, so a late answer's consequences can be observed. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const down = (): Error => new Error('connection refused');
const inProgress = (retryAfterMs: number): BeginResult => ({ state: 'in-progress', retryAfterMs });
const acquired = (fencingToken: number): BeginResult => ({ state: 'acquired', fencingToken });
const response: StoredResponse = { status: 201, headers: [], body: Buffer.from('{}') };

describe('QuorumStore decisions: renew, complete and markUnstorable', () => {
  it('confirms at a majority without waiting for a silent node', async () => {
    const { quorum, nodes } = cluster();
    script(nodes, 'vote_', true, true, 'silent');
    const renewed = await timed(quorum.renew('k', 'a', 1_000));
    expect(renewed.value).toBe(true);
    expect(renewed.ms).toBeLessThan(200);
    expect(await quorum.complete('k', 'a', response, 1_000)).toBe(true);
  });

  it('reports "not held" only when a majority says so', async () => {
    const { quorum, nodes } = cluster();
    script(nodes, 'vote_', false, down(), false);
    expect(await quorum.renew('k', 'a', 1_000)).toBe(false);
    expect(await quorum.complete('k', 'a', response, 1_000)).toBe(false);
    expect(await quorum.markUnstorable('k', 'a', 'too-large', 1_000)).toBe(false);
  });

  it('throws when the answers decide nothing, so the caller tries again', async () => {
    const { quorum, nodes } = cluster(100);
    script(nodes, 'vote_', true, false, down());
    await expect(quorum.renew('k', 'a', 1_000)).rejects.toThrow(StoreUnavailableError);
    await expect(quorum.complete('k', 'a', response, 1_000)).rejects.toThrow(StoreUnavailableError);
    script(nodes, 'vote_', true, 'silent', down());
    await expect(quorum.markUnstorable('k', 'a', 'streamed', 1_000)).rejects.toThrow(
      /1 of 3 answered.*did not answer in 100 ms/,
    );
  });
});

describe('QuorumStore decisions: begin and lock', () => {
  it('grants at a majority and takes the largest token of the nodes that answered', async () => {
    const { quorum, nodes } = cluster();
    const late = new Deferred<BeginResult>();
    script(nodes, 'begin_', acquired(5), acquired(7), late);
    const begun = quorum.begin('k', 'a', 'fp', 1_000);
    // A straggler answering shortly after the majority still counts towards the token.
    setTimeout(() => late.resolve(acquired(9)), 2);
    expect(await begun).toEqual(acquired(9));
    // One that stays silent does not hold the grant up for its whole deadline.
    script(nodes, 'begin_', acquired(5), acquired(7), 'silent');
    const fast = await timed(quorum.begin('k', 'a', 'fp', 1_000));
    expect(fast.value).toEqual(acquired(7));
    expect(fast.ms).toBeLessThan(200);
    expect(nodes.flatMap((node) => node.released)).toEqual([]);
  });

  it('grants once a majority holds the largest token, telling the nodes below it', async () => {
    const { quorum, nodes } = cluster();
    const slow = new Deferred<boolean>();
    script(
      nodes,
      'lock_',
      ...[5, 9, 7].map((fencingToken) => ({ acquired: true as const, fencingToken })),
    );
    script(nodes, 'raise_', slow, true, true);
    expect(await quorum.lock('k', 'a', 1_000)).toEqual({ acquired: true, fencingToken: 9 });
    expect(nodes.map((node) => node.raised)).toEqual([[9], [], [9]]);
    // Equal tokens: nothing to tell.
    script(nodes, 'begin_', acquired(4), acquired(4), acquired(4));
    expect(await quorum.begin('k', 'b', 'fp', 1_000)).toEqual(acquired(4));
    expect(nodes.map((node) => node.raised)).toEqual([[9], [], [9]]);
    expect(nodes.flatMap((node) => node.released)).toEqual([]);
  });

  it('refuses a take as a split vote, and gives it back, when fewer than a majority hold its token', async () => {
    const { quorum, nodes } = cluster();
    script(nodes, 'begin_', acquired(5), acquired(9), acquired(7));
    script(nodes, 'raise_', down(), true, false);
    const found = await quorum.begin('k', 'a', 'fp', 30_000);
    expect(found.state).toBe('in-progress');
    if (found.state === 'in-progress') expect(found.retryAfterMs).toBeLessThanOrEqual(1_000);
    await flush();
    expect(nodes.map((node) => node.released)).toEqual([['a'], ['a'], ['a']]);
  });

  it('replays a finished result found on any node at once, and gives back its grants', async () => {
    const { quorum, nodes } = cluster();
    const completed: BeginResult = { state: 'completed', response };
    script(nodes, 'begin_', acquired(1), 'silent', completed);
    const found = await timed(quorum.begin('k', 'a', 'fp', 1_000));
    expect(found.value).toEqual(completed);
    expect(found.ms).toBeLessThan(200);
    await flush();
    // The granting node, and the silent one (right behind its take), are asked to give it back.
    expect(nodes.map((node) => node.released)).toEqual([['a'], ['a'], []]);
  });

  it('tells a split vote to retry soon, at random, and gives back its minority grant', async () => {
    const waits = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const { quorum, nodes } = cluster();
      script(nodes, 'begin_', acquired(1), inProgress(30_000), down());
      const found = await quorum.begin('k', 'a', 'fp', 30_000);
      expect(found.state).toBe('in-progress');
      if (found.state !== 'in-progress') return;
      expect(found.retryAfterMs).toBeGreaterThanOrEqual(50);
      expect(found.retryAfterMs).toBeLessThanOrEqual(1_000);
      waits.add(found.retryAfterMs);
      await flush();
      // The failed node may have run the take: it is asked too.
      expect(nodes.map((node) => node.released)).toEqual([['a'], [], ['a']]);
    }
    expect(waits.size).toBeGreaterThan(5);
  });

  it('tells the longest remaining lease when a majority reports the key held', async () => {
    const { quorum, nodes } = cluster();
    script(nodes, 'begin_', acquired(1), inProgress(4_000), inProgress(3_000));
    expect(await quorum.begin('k', 'a', 'fp', 5_000)).toEqual(inProgress(4_000));
    script(nodes, 'lock_', { acquired: false, retryAfterMs: 2_500 }, down(), {
      acquired: false,
      retryAfterMs: 2_000,
    });
    expect(await quorum.lock('k', 'a', 5_000)).toEqual({ acquired: false, retryAfterMs: 2_500 });
  });

  it('refuses as soon as a majority holds the key, and gives back a grant that arrives later', async () => {
    const { quorum, nodes } = cluster();
    const late = new Deferred<BeginResult>();
    script(nodes, 'begin_', inProgress(4_000), inProgress(4_000), late);
    const refused = await quorum.begin('k', 'a', 'fp', 5_000);
    expect(refused).toEqual(inProgress(4_000));
    late.resolve(acquired(3));
    await flush();
    // Right behind the take when refused, and again once its grant arrived.
    expect(nodes[2]?.released).toEqual(['a', 'a']);
    expect(nodes[0]?.released).toEqual([]);
  });

  it('reports the store unavailable, and gives back, when a majority cannot answer', async () => {
    const { quorum, nodes } = cluster();
    script(nodes, 'lock_', { acquired: true, fencingToken: 1 }, down(), down());
    await expect(quorum.lock('k', 'a', 1_000)).rejects.toThrow(StoreUnavailableError);
    await flush();
    expect(nodes.map((node) => node.released)).toEqual([['a'], ['a'], ['a']]);
  });
});

describe('QuorumStore decisions: release', () => {
  it('answers once a majority answered', async () => {
    const { quorum, nodes } = cluster();
    script(nodes, 'release_', true, false, 'silent');
    const released = await timed(quorum.release('k', 'a'));
    expect(released.value).toBe(true);
    expect(released.ms).toBeLessThan(200);
    script(nodes, 'release_', false, 'silent', false);
    expect(await quorum.release('k', 'a')).toBe(false);
    script(nodes, 'release_', true, down(), down());
    await expect(quorum.release('k', 'a')).rejects.toThrow(StoreUnavailableError);
  });
});

describe('QuorumStore decisions: consume', () => {
  const state = (allowed: boolean, remaining: number, resetMs: number, retryAfterMs = 0) => ({
    name: 'default',
    allowed,
    remaining,
    resetMs,
    retryAfterMs,
  });
  const result = (allowed: boolean, remaining: number, resetMs: number, retryAfterMs = 0) => ({
    allowed,
    retryAfterMs,
    limits: [state(allowed, remaining, resetMs, retryAfterMs)],
  });
  const rules = [
    {
      name: 'default',
      limit: 5,
      windowMs: 1_000,
      algorithm: 'fixed-window',
      cost: 1,
      blockMs: 0,
    } as const,
  ];

  it('admits at a majority, reporting the strictest of the agreeing nodes', async () => {
    const { quorum, nodes } = cluster();
    script(nodes, 'consume_', result(true, 3, 1_000), result(true, 1, 2_000), 'silent');
    const admitted = await timed(quorum.consume('k', rules));
    expect(admitted.value).toEqual(result(true, 1, 2_000));
    expect(admitted.ms).toBeLessThan(200);
  });

  it('refuses at a majority, with the latest retry of the refusing nodes', async () => {
    const { quorum, nodes } = cluster();
    script(
      nodes,
      'consume_',
      result(false, 0, 800, 500),
      result(true, 4, 1_000),
      result(false, 0, 900, 900),
    );
    expect(await quorum.consume('k', rules)).toEqual(result(false, 0, 900, 900));
  });

  it('reports the store unavailable when no majority agrees', async () => {
    const { quorum, nodes } = cluster();
    script(nodes, 'consume_', result(true, 4, 1_000), result(false, 0, 900, 900), down());
    await expect(quorum.consume('k', rules)).rejects.toThrow(StoreUnavailableError);
  });
});

describe('QuorumStore configuration', () => {
  it('refuses the same store twice, which would give one Redis the votes of two', () => {
    const [a, b] = [new ScriptedNode(), new ScriptedNode()];
    expect(() => new QuorumStore({ stores: [a, a, b] })).toThrow(TollgateConfigError);
    expect(() => new QuorumStore({ stores: [a, a, b] })).toThrow(/stores/);
  });

  it('refuses a store that cannot be told the quorum token, naming it', () => {
    const unfenced: TollgateStore = Object.assign(new ScriptedNode(), {
      raiseToken: undefined,
      location: 'postgres://db-c/app',
    });
    const stores = [new ScriptedNode(), new ScriptedNode(), unfenced];
    expect(() => new QuorumStore({ stores })).toThrow(TollgateConfigError);
    expect(() => new QuorumStore({ stores })).toThrow(/raiseToken\(\)/);
    expect(() => new QuorumStore({ stores })).toThrow(/`stores`\[2\] \(postgres:\/\/db-c\/app\)/);
  });

  it('refuses two stores at the same location', () => {
    const at = (location: string): TollgateStore => Object.assign(new ScriptedNode(), { location });
    const stores = [at('redis://a:6379/0'), at('redis://a:6379/0'), at('redis://b:6379/0')];
    expect(() => new QuorumStore({ stores })).toThrow(/redis:\/\/a:6379\/0/);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, '500' as unknown as number])(
    'refuses nodeTimeoutMs %s, naming the option',
    (nodeTimeoutMs) => {
      const stores = [new ScriptedNode(), new ScriptedNode(), new ScriptedNode()];
      expect(() => new QuorumStore({ stores, nodeTimeoutMs })).toThrow(TollgateConfigError);
      expect(() => new QuorumStore({ stores, nodeTimeoutMs })).toThrow(/nodeTimeoutMs/);
    },
  );

  it('names the option when the stores are missing', () => {
    expect(
      () => new QuorumStore({} as unknown as ConstructorParameters<typeof QuorumStore>[0]),
    ).toThrow(TollgateConfigError);
  });
});
