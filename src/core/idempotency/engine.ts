import { randomBytes } from 'node:crypto';

import { withDeadline } from '../deadline.js';
import { StoreUnavailableError, TollgateHttpError, toError } from '../errors.js';
import { fingerprintRequest, sortedKeys, UNREADABLE_BODY } from '../fingerprint.js';
import { parseIdempotencyKey, storageKey, validateNamespace } from '../keys.js';
import type {
  BeginResult,
  IdempotencyStore,
  StoredResponse,
  UnstorableReason,
} from '../../stores/store.js';
import type { IdempotencyPolicy } from './options.js';
import {
  bodyNotReadable,
  duplicateLocked,
  inProgress,
  keyMissing,
  keyReused,
  notReplayable,
  storeUnavailable,
} from './problems.js';
import { cancelRenewal, scheduleRenewal, type Renewable } from './renewals.js';

/** A request as the adapters describe it to the engine: nothing framework-specific. */
export interface IdempotencyRequest {
  method: string;
  /** The route template (`/orders/:id`), or another stable name of the handler. */
  route: string;
  /** Who is asking: principal and tenant. Keys never cross scopes, so no one replays another's result. */
  scope: string;
  /** A request header by lower-case name. */
  header(name: string): string | readonly string[] | undefined;
  /** A query field by name. */
  query(name: string): string | undefined;
  /** The parsed body (JSON), raw bytes or text, or undefined. */
  body: unknown;
  /**
   * The route's path parameters (`{ id: '1' }` for `/orders/:id`): part of the request's identity,
   * so identical bodies sent to `/devices/1/reports` and `/devices/2/reports` are two requests.
   */
  params?: Readonly<Record<string, unknown>> | undefined;
}

/** How the handler's response ended, as the adapter captured it. */
export type CapturedResponse =
  | {
      status: number;
      /** Response headers as sent; the engine keeps only the allow-listed ones. */
      headers: Readonly<Record<string, string | number | readonly string[] | undefined>>;
      body: Uint8Array;
    }
  | { status: number; unstorable: UnstorableReason };

export type IdempotencyDecision =
  /** Run the handler, then report how it ended through `execution`. */
  | { action: 'proceed'; execution: Execution }
  /** Do not run the handler: send this stored response, marked `Idempotent-Replayed: true`. */
  | { action: 'replay'; response: StoredResponse }
  /** Do not run the handler: answer with this problem. */
  | { action: 'reject'; error: TollgateHttpError }
  /** Run the handler without protection: no key was sent where none is required, or the store is down and the route allows it. */
  | { action: 'bypass'; reason: 'no-key' | 'store-unavailable' };

/** What the engine reports besides its decisions, for logs and metrics. */
export type IdempotencyEvent =
  | { type: 'store-unavailable'; policy: 'reject' | 'allow'; error: Error }
  | { type: 'lease-lost'; key: string }
  | { type: 'finish-failed'; key: string; error: Error };

export interface IdempotencyEngineOptions {
  /** Prefix of every storage key. Default `tollgate`. */
  namespace?: string;
  /** Called for events worth logging. Default: warnings on the console. */
  onEvent?: (event: IdempotencyEvent) => void;
}

/** The header a replayed response carries, and the first response never does. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * Decides what each request does: run once, replay, or be refused. It holds no framework
 * knowledge: the adapters describe the request, run the handler and capture the response.
 */
export class IdempotencyEngine {
  private readonly namespace: string;
  private readonly onEvent: (event: IdempotencyEvent) => void;

  constructor(
    private readonly store: IdempotencyStore,
    options: IdempotencyEngineOptions = {},
  ) {
    this.namespace = validateNamespace(options.namespace ?? 'tollgate');
    this.onEvent = options.onEvent ?? defaultEventReporter;
  }

  /** Decides what this request does. Never throws: every failure is a decision. */
  async begin(
    request: IdempotencyRequest,
    policy: IdempotencyPolicy,
  ): Promise<IdempotencyDecision> {
    try {
      return await this.decide(request, policy);
    } catch (error) {
      if (error instanceof TollgateHttpError) return { action: 'reject', error };
      const cause = toError(error);
      if (!(cause instanceof StoreUnavailableError)) throw cause;
      this.onEvent({ type: 'store-unavailable', policy: policy.onStoreUnavailable, error: cause });
      return policy.onStoreUnavailable === 'allow'
        ? { action: 'bypass', reason: 'store-unavailable' }
        : { action: 'reject', error: storeUnavailable() };
    }
  }

  private async decide(
    request: IdempotencyRequest,
    policy: IdempotencyPolicy,
  ): Promise<IdempotencyDecision> {
    const clientKey = parseIdempotencyKey(
      request.header(policy.headerName.toLowerCase()),
      policy.headerName,
    );

    if (policy.strategy === 'lock') {
      const useHeader =
        policy.lockKey === 'header' || (policy.lockKey === 'auto' && clientKey !== undefined);
      if (useHeader && clientKey === undefined) return this.missingKey(policy);
      const identity = useHeader ? `key:${clientKey}` : `fp:${this.fingerprint(request, policy)}`;
      const key = storageKey(this.namespace, 'lock', [
        request.scope,
        request.method,
        request.route,
        identity,
      ]);
      const lock = await withDeadline('lock', policy.storeTimeoutMs, () =>
        this.store.lock(key, policy.windowMs),
      );
      if (!lock.acquired) return { action: 'reject', error: duplicateLocked(lock.retryAfterMs) };
      // The lock is never released: it expires, so duplicates inside the window are refused.
      return { action: 'proceed', execution: Execution.untracked() };
    }

    const fingerprint = this.fingerprint(request, policy);
    let key: string;
    let retentionMs: number;
    if (policy.strategy === 'key') {
      if (clientKey === undefined) return this.missingKey(policy);
      key = storageKey(this.namespace, 'key', [
        request.scope,
        request.method,
        request.route,
        clientKey,
      ]);
      retentionMs = policy.retentionMs;
    } else {
      key = storageKey(this.namespace, 'fp', [request.scope, fingerprint]);
      retentionMs = policy.windowMs;
    }

    const owner = nextOwnerToken();
    const waitUntil = Date.now() + policy.waitForInFlightMs;
    for (let pause = 25; ; pause = Math.min(pause * 2, 500)) {
      const found = await this.beginOrGiveBack(key, owner, fingerprint, policy);
      switch (found.state) {
        case 'acquired':
          return {
            action: 'proceed',
            execution: new Execution(this.store, key, owner, retentionMs, policy, this.onEvent),
          };
        case 'completed':
          return { action: 'replay', response: found.response };
        case 'mismatch':
          return { action: 'reject', error: keyReused(policy.headerName) };
        case 'unstorable':
          return { action: 'reject', error: notReplayable(found.reason) };
        case 'in-progress': {
          const left = waitUntil - Date.now();
          if (left <= 0) return { action: 'reject', error: inProgress(found.retryAfterMs) };
          await sleep(Math.min(pause, left));
        }
      }
    }
  }

  /**
   * `begin` under the deadline. A store that answers late may still take the lease after the
   * request gave up (a silent Redis runs the queued command once it resumes). A release for the
   * same owner, sent right behind it on the same connection, then gives the key back at once
   * rather than leaving it blocked for the whole lease; it only ever touches this owner's lease.
   */
  private async beginOrGiveBack(
    key: string,
    owner: string,
    fingerprint: string,
    policy: IdempotencyPolicy,
  ): Promise<BeginResult> {
    const pending = this.store.begin(key, owner, fingerprint, policy.leaseMs);
    try {
      return await withDeadline('begin', policy.storeTimeoutMs, () => pending);
    } catch (error) {
      pending.catch(() => undefined);
      this.store.release(key, owner).catch(() => undefined);
      throw error;
    }
  }

  private missingKey(policy: IdempotencyPolicy): IdempotencyDecision {
    return policy.required
      ? { action: 'reject', error: keyMissing(policy.headerName) }
      : { action: 'bypass', reason: 'no-key' };
  }

  private fingerprint(request: IdempotencyRequest, policy: IdempotencyPolicy): string {
    // Built only when the route names extras or has path parameters: most requests have neither.
    let extra: Array<readonly [string, string | undefined]> | undefined;
    for (const name of policy.fingerprintHeaders) {
      const value = request.header(name);
      (extra ??= []).push([
        `header:${name}`,
        typeof value === 'string' || value === undefined ? value : value.join(', '),
      ]);
    }
    for (const name of policy.fingerprintQuery) {
      (extra ??= []).push([`query:${name}`, request.query(name)]);
    }
    const params = request.params;
    if (params !== undefined) {
      // Own fields only (Object.keys), so a hostile parameter name cannot reach the prototype.
      const names = sortedKeys(params);
      if (names.length > 0) {
        for (const name of names) {
          const value = params[name];
          (extra ??= []).push([
            `param:${name}`,
            typeof value === 'string' ? value : JSON.stringify(value),
          ]);
        }
      }
    }
    let body = request.body;
    if (body === UNREADABLE_BODY) {
      const contentType = request.header('content-type');
      const type = typeof contentType === 'string' ? contentType : undefined;
      // Deduplicating by a body it cannot see would take different requests for one: refuse.
      if (policy.strategy !== 'key') throw bodyNotReadable(type);
      // A key names the operation; without the body, a changed body is only caught by its size.
      body = `unreadable:${type ?? ''}:${String(request.header('content-length') ?? '')}`;
    }
    return fingerprintRequest({
      method: request.method,
      route: request.route,
      body,
      ...(extra ? { extra } : {}),
    });
  }
}

/**
 * One run of a handler under an in-progress lease. The lease is renewed while the handler runs,
 * so a long handler keeps its key, and a crashed process blocks retries only until the lease ends.
 */
export class Execution implements Renewable {
  private renewing = false;
  private finished = false;

  constructor(
    private readonly store: IdempotencyStore | undefined,
    readonly key: string,
    private readonly owner: string,
    private readonly retentionMs: number,
    private readonly policy: IdempotencyPolicy | undefined,
    private readonly onEvent: (event: IdempotencyEvent) => void,
  ) {
    if (store && policy) {
      scheduleRenewal(this, policy.leaseMs);
      this.renewing = true;
    }
  }

  /** An execution with nothing to record afterwards (the `lock` strategy). */
  static untracked(): Execution {
    return new Execution(undefined, '', '', 0, undefined, () => undefined);
  }

  /** The largest body worth capturing; anything larger is passed through and not stored. */
  get maxResponseBytes(): number {
    return this.policy?.maxResponseBytes ?? 0;
  }

  /** Whether the adapter needs to capture the response at all. */
  get tracked(): boolean {
    return this.store !== undefined;
  }

  /**
   * Records how the handler ended: the response is stored for replay, or the key released so a
   * retry runs again, as the outcome policy says. Never rejects: the response is already sent.
   */
  async finish(response: CapturedResponse): Promise<void> {
    if (!this.begunFinishing() || !this.store || !this.policy) return;
    const { store, policy, key, owner } = this;
    try {
      if (policy.outcome(response.status) === 'release') {
        await withDeadline('release', policy.storeTimeoutMs, () => store.release(key, owner));
      } else if ('unstorable' in response) {
        await withDeadline('markUnstorable', policy.storeTimeoutMs, () =>
          store.markUnstorable(key, owner, response.unstorable, this.retentionMs),
        );
      } else {
        const stored: StoredResponse = {
          status: response.status,
          headers: replayableHeaders(response.headers, policy.replayHeaders),
          body: response.body,
        };
        const kept = await withDeadline('complete', policy.storeTimeoutMs, () =>
          store.complete(key, owner, stored, this.retentionMs),
        );
        if (!kept) this.onEvent({ type: 'lease-lost', key });
      }
    } catch (error) {
      this.onEvent({ type: 'finish-failed', key, error: toError(error) });
    }
  }

  /** The handler failed with no response at all: release the key so a retry runs again. */
  async abandon(): Promise<void> {
    if (!this.begunFinishing() || !this.store || !this.policy) return;
    const { store, policy, key, owner } = this;
    try {
      await withDeadline('release', policy.storeTimeoutMs, () => store.release(key, owner));
    } catch (error) {
      this.onEvent({ type: 'finish-failed', key, error: toError(error) });
    }
  }

  private begunFinishing(): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.stopRenewing();
    return true;
  }

  private stopRenewing(): void {
    if (!this.renewing || !this.policy) return;
    this.renewing = false;
    cancelRenewal(this, this.policy.leaseMs);
  }

  /** Called by the renewal schedule, at a third of the lease. */
  renew(): void {
    void this.renewLease();
  }

  private async renewLease(): Promise<void> {
    const { store, policy } = this;
    if (!store || !policy || this.finished) return;
    try {
      const held = await withDeadline('renew', policy.storeTimeoutMs, () =>
        store.renew(this.key, this.owner, policy.leaseMs),
      );
      if (!held && !this.finished) {
        this.stopRenewing();
        this.onEvent({ type: 'lease-lost', key: this.key });
      }
    } catch {
      // A missed renewal is retried at the next tick; the lease outlasts two misses.
    }
  }
}

/** Keeps the allow-listed headers, in the order sent, with multiple values joined as HTTP allows. */
export function replayableHeaders(
  headers: Readonly<Record<string, string | number | readonly string[] | undefined>>,
  allowed: ReadonlySet<string>,
): Array<readonly [string, string]> {
  const kept: Array<readonly [string, string]> = [];
  // for...in rather than Object.entries: no array of pairs per response.
  for (const name in headers) {
    if (!Object.prototype.hasOwnProperty.call(headers, name)) continue;
    const value = headers[name];
    if (value === undefined || !allowed.has(name.toLowerCase())) continue;
    kept.push([name, typeof value === 'object' ? value.join(', ') : String(value)]);
  }
  return kept;
}

/** One line for an event, for whichever logger the adapter uses. */
export function describeIdempotencyEvent(event: IdempotencyEvent): string {
  switch (event.type) {
    case 'store-unavailable':
      return `store unavailable, request ${event.policy === 'allow' ? 'ran unprotected' : 'rejected with 503'}: ${event.error.message}`;
    case 'lease-lost':
      return `lost the in-progress lease of ${event.key}: its result was not stored`;
    case 'finish-failed':
      return `could not record the result of ${event.key}: ${event.error.message}`;
  }
}

function defaultEventReporter(event: IdempotencyEvent): void {
  console.warn(`tollgate: ${describeIdempotencyEvent(event)}`);
}

/**
 * Who holds an in-progress lease. Unique across every app server (a random per-process prefix and
 * a counter), and cheaper than a UUID per request. Clients never see it.
 */
const OWNER_PREFIX = randomBytes(12).toString('base64url');
let ownerCounter = 0;
function nextOwnerToken(): string {
  ownerCounter = (ownerCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${OWNER_PREFIX}.${ownerCounter.toString(36)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
