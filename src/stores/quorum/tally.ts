import { performance } from 'node:perf_hooks';

import { toError } from '../../core/errors.js';
import type { TollgateStore } from '../../core/store.js';

/** One node's answer: its value (and how long it took), or why there is none. */
export type Answer<T> = { ok: true; value: T; ms: number } | { ok: false; error: Error };

/** What `decide` sees: every node's answer so far (`undefined`: none yet). */
export interface Tally<T> {
  readonly answers: ReadonlyArray<Answer<T> | undefined>;
  /** Nodes that have not answered yet, and are not given up. */
  readonly pending: number;
}

/** `decide` cannot tell yet: wait for more answers. */
export const UNDECIDED = Symbol('undecided');
export type Verdict<V> = V | typeof UNDECIDED;

/**
 * How long a grant waits at least for the nodes that have not answered yet (or as long as the
 * majority took, if longer). The grant is certain at once, but its fencing token is the largest of
 * the nodes that granted: waiting for the stragglers of a healthy cluster makes every node's count,
 * so a re-sent take reports the same token whichever nodes happened to answer first. A silent node
 * costs this, not the whole `nodeTimeoutMs`.
 */
const LINGER_MIN_MS = 20;

/**
 * Calls every node at once and resolves as soon as `decide` returns a verdict from the answers so
 * far (it may also throw). A node silent past `timeoutMs` counts as failed; `decide` must reach a
 * verdict once no node is pending. Answers after the verdict are ignored here (see `Takes`).
 *
 * `linger(verdict)`: a verdict that holds whatever the others say, but whose details depend on
 * which nodes answered (a grant's fencing token), waits a little longer for the nodes still
 * pending (see `LINGER_MIN_MS`), then is decided again from every answer in by then.
 */
export function gather<T, V>(
  stores: readonly TollgateStore[],
  call: (store: TollgateStore, index: number) => Promise<T>,
  decide: (tally: Tally<T>) => Verdict<V>,
  options: {
    timeoutMs: number;
    linger?: ((verdict: V) => boolean) | undefined;
    /** Throws: no verdict is possible from the answers in. */
    unavailable: (tally: Tally<T>) => never;
  },
): Promise<V> {
  const { timeoutMs, linger, unavailable } = options;
  return new Promise<V>((resolve, reject) => {
    const answers: Array<Answer<T> | undefined> = stores.map(() => undefined);
    const tally = { answers, pending: stores.length };
    const startedAt = performance.now();
    let decided = false;
    let lingering = false;
    let timer: NodeJS.Timeout | undefined;
    // Given up only after this turn's I/O has been read: after a stalled event loop, timers run
    // before the sockets are read, and answers that arrived in time must still count.
    const after = (ms: number, then: () => void): void => {
      clearTimeout(timer);
      timer = setTimeout(() => setImmediate(then), ms);
      timer.unref();
    };
    const settle = (final = false): void => {
      if (decided) return;
      let verdict: Verdict<V>;
      try {
        verdict = decide(tally);
        if (verdict === UNDECIDED && (final || tally.pending === 0)) {
          unavailable(tally);
        }
      } catch (error) {
        decided = true;
        clearTimeout(timer);
        reject(toError(error));
        return;
      }
      if (verdict === UNDECIDED) return;
      if (!final && tally.pending > 0 && (lingering || linger?.(verdict))) {
        if (!lingering) {
          lingering = true;
          const elapsed = performance.now() - startedAt;
          after(Math.min(Math.max(LINGER_MIN_MS, elapsed), timeoutMs - elapsed), () =>
            settle(true),
          );
        }
        return;
      }
      decided = true;
      clearTimeout(timer);
      resolve(verdict);
    };
    const record = (index: number, answer: Answer<T>): void => {
      if (decided || answers[index] !== undefined) return;
      answers[index] = answer;
      tally.pending--;
      settle();
    };
    after(timeoutMs, () => {
      if (decided) return;
      stores.forEach((store, index) => {
        if (answers[index] !== undefined) return;
        answers[index] = {
          ok: false,
          error: new Error(`${store.kind} store ${index + 1} did not answer in ${timeoutMs} ms`),
        };
      });
      tally.pending = 0;
      settle(true);
    });
    stores.forEach((store, index) => {
      let answer: Promise<T>;
      try {
        answer = call(store, index);
      } catch (error) {
        answer = Promise.reject(toError(error));
      }
      answer.then(
        (value) => record(index, { ok: true, value, ms: performance.now() - startedAt }),
        (error: unknown) => record(index, { ok: false, error: toError(error) }),
      );
    });
  });
}

/** Answers that are values (not failures) and pass `test`. */
export function count<T>(tally: Tally<T>, test: (value: T) => boolean): number {
  let n = 0;
  for (const answer of tally.answers) if (answer?.ok && test(answer.value)) n++;
  return n;
}
