import { randomBytes } from 'node:crypto';
import { withDeadline } from '../deadline.js';
import { StoreUnavailableError, TollgateHttpError, toError } from '../errors.js';
import { fingerprintRequest, sortedKeys, UNREADABLE_BODY } from '../fingerprint.js';
import { parseIdempotencyKey, storageKey, validateNamespace } from '../keys.js';
import { bodyNotReadable, duplicateLocked, inProgress, keyMissing, keyReused, notReplayable, storeUnavailable, } from './problems.js';
import { cancelRenewal, scheduleRenewal } from './renewals.js';
/** The header a replayed response carries, and the first response never does. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/**
 * Decides what each request does: run once, replay, or be refused. It holds no framework
 * knowledge: the adapters describe the request, run the handler and capture the response.
 */
export class IdempotencyEngine {
    store;
    namespace;
    onEvent;
    constructor(store, options = {}) {
        this.store = store;
        this.namespace = validateNamespace(options.namespace ?? 'tollgate');
        this.onEvent = options.onEvent ?? defaultEventReporter;
    }
    /** Decides what this request does. Never throws: every failure is a decision. */
    async begin(request, policy) {
        try {
            return await this.decide(request, policy);
        }
        catch (error) {
            if (error instanceof TollgateHttpError)
                return { action: 'reject', error };
            const cause = toError(error);
            if (!(cause instanceof StoreUnavailableError))
                throw cause;
            this.onEvent({ type: 'store-unavailable', policy: policy.onStoreUnavailable, error: cause });
            return policy.onStoreUnavailable === 'allow'
                ? { action: 'bypass', reason: 'store-unavailable' }
                : { action: 'reject', error: storeUnavailable() };
        }
    }
    async decide(request, policy) {
        const clientKey = parseIdempotencyKey(request.header(policy.headerName.toLowerCase()), policy.headerName);
        if (policy.strategy === 'lock') {
            const useHeader = policy.lockKey === 'header' || (policy.lockKey === 'auto' && clientKey !== undefined);
            if (useHeader && clientKey === undefined)
                return this.missingKey(policy);
            const identity = useHeader ? `key:${clientKey}` : `fp:${this.fingerprint(request, policy)}`;
            const key = storageKey(this.namespace, 'lock', [
                request.scope,
                request.method,
                request.route,
                identity,
            ]);
            const lock = await withDeadline('lock', policy.storeTimeoutMs, () => this.store.lock(key, policy.windowMs));
            if (!lock.acquired)
                return { action: 'reject', error: duplicateLocked(lock.retryAfterMs) };
            // The lock is never released: it expires, so duplicates inside the window are refused.
            return { action: 'proceed', execution: Execution.untracked() };
        }
        const fingerprint = this.fingerprint(request, policy);
        let key;
        let retentionMs;
        if (policy.strategy === 'key') {
            if (clientKey === undefined)
                return this.missingKey(policy);
            key = storageKey(this.namespace, 'key', [
                request.scope,
                request.method,
                request.route,
                clientKey,
            ]);
            retentionMs = policy.retentionMs;
        }
        else {
            key = storageKey(this.namespace, 'fp', [request.scope, fingerprint]);
            retentionMs = policy.windowMs;
        }
        const owner = nextOwnerToken();
        const waitUntil = Date.now() + policy.waitForInFlightMs;
        for (let pause = 25;; pause = Math.min(pause * 2, 500)) {
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
                    if (left <= 0)
                        return { action: 'reject', error: inProgress(found.retryAfterMs) };
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
    async beginOrGiveBack(key, owner, fingerprint, policy) {
        const pending = this.store.begin(key, owner, fingerprint, policy.leaseMs);
        try {
            return await withDeadline('begin', policy.storeTimeoutMs, () => pending);
        }
        catch (error) {
            pending.catch(() => undefined);
            this.store.release(key, owner).catch(() => undefined);
            throw error;
        }
    }
    missingKey(policy) {
        return policy.required
            ? { action: 'reject', error: keyMissing(policy.headerName) }
            : { action: 'bypass', reason: 'no-key' };
    }
    fingerprint(request, policy) {
        // Built only when the route names extras or has path parameters: most requests have neither.
        let extra;
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
            if (policy.strategy !== 'key')
                throw bodyNotReadable(type);
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
export class Execution {
    store;
    key;
    owner;
    retentionMs;
    policy;
    onEvent;
    renewing = false;
    finished = false;
    constructor(store, key, owner, retentionMs, policy, onEvent) {
        this.store = store;
        this.key = key;
        this.owner = owner;
        this.retentionMs = retentionMs;
        this.policy = policy;
        this.onEvent = onEvent;
        if (store && policy) {
            scheduleRenewal(this, policy.leaseMs);
            this.renewing = true;
        }
    }
    /** An execution with nothing to record afterwards (the `lock` strategy). */
    static untracked() {
        return new Execution(undefined, '', '', 0, undefined, () => undefined);
    }
    /** The largest body worth capturing; anything larger is passed through and not stored. */
    get maxResponseBytes() {
        return this.policy?.maxResponseBytes ?? 0;
    }
    /** Whether the adapter needs to capture the response at all. */
    get tracked() {
        return this.store !== undefined;
    }
    /**
     * Records how the handler ended: the response is stored for replay, or the key released so a
     * retry runs again, as the outcome policy says. Never rejects: the response is already sent.
     */
    async finish(response) {
        if (!this.begunFinishing() || !this.store || !this.policy)
            return;
        const { store, policy, key, owner } = this;
        try {
            if (policy.outcome(response.status) === 'release') {
                await withDeadline('release', policy.storeTimeoutMs, () => store.release(key, owner));
            }
            else if ('unstorable' in response) {
                await withDeadline('markUnstorable', policy.storeTimeoutMs, () => store.markUnstorable(key, owner, response.unstorable, this.retentionMs));
            }
            else {
                const stored = {
                    status: response.status,
                    headers: replayableHeaders(response.headers, policy.replayHeaders),
                    body: response.body,
                };
                const kept = await withDeadline('complete', policy.storeTimeoutMs, () => store.complete(key, owner, stored, this.retentionMs));
                if (!kept)
                    this.onEvent({ type: 'lease-lost', key });
            }
        }
        catch (error) {
            this.onEvent({ type: 'finish-failed', key, error: toError(error) });
        }
    }
    /** The handler failed with no response at all: release the key so a retry runs again. */
    async abandon() {
        if (!this.begunFinishing() || !this.store || !this.policy)
            return;
        const { store, policy, key, owner } = this;
        try {
            await withDeadline('release', policy.storeTimeoutMs, () => store.release(key, owner));
        }
        catch (error) {
            this.onEvent({ type: 'finish-failed', key, error: toError(error) });
        }
    }
    begunFinishing() {
        if (this.finished)
            return false;
        this.finished = true;
        this.stopRenewing();
        return true;
    }
    stopRenewing() {
        if (!this.renewing || !this.policy)
            return;
        this.renewing = false;
        cancelRenewal(this, this.policy.leaseMs);
    }
    /** Called by the renewal schedule, at a third of the lease. */
    renew() {
        void this.renewLease();
    }
    async renewLease() {
        const { store, policy } = this;
        if (!store || !policy || this.finished)
            return;
        try {
            const held = await withDeadline('renew', policy.storeTimeoutMs, () => store.renew(this.key, this.owner, policy.leaseMs));
            if (!held && !this.finished) {
                this.stopRenewing();
                this.onEvent({ type: 'lease-lost', key: this.key });
            }
        }
        catch {
            // A missed renewal is retried at the next tick; the lease outlasts two misses.
        }
    }
}
/** Keeps the allow-listed headers, in the order sent, with multiple values joined as HTTP allows. */
export function replayableHeaders(headers, allowed) {
    const kept = [];
    // for...in rather than Object.entries: no array of pairs per response.
    for (const name in headers) {
        if (!Object.prototype.hasOwnProperty.call(headers, name))
            continue;
        const value = headers[name];
        if (value === undefined || !allowed.has(name.toLowerCase()))
            continue;
        kept.push([name, typeof value === 'object' ? value.join(', ') : String(value)]);
    }
    return kept;
}
/** One line for an event, for whichever logger the adapter uses. */
export function describeIdempotencyEvent(event) {
    switch (event.type) {
        case 'store-unavailable':
            return `store unavailable, request ${event.policy === 'allow' ? 'ran unprotected' : 'rejected with 503'}: ${event.error.message}`;
        case 'lease-lost':
            return `lost the in-progress lease of ${event.key}: its result was not stored`;
        case 'finish-failed':
            return `could not record the result of ${event.key}: ${event.error.message}`;
    }
}
function defaultEventReporter(event) {
    console.warn(`tollgate: ${describeIdempotencyEvent(event)}`);
}
/**
 * Who holds an in-progress lease. Unique across every app server (a random per-process prefix and
 * a counter), and cheaper than a UUID per request. Clients never see it.
 */
const OWNER_PREFIX = randomBytes(12).toString('base64url');
let ownerCounter = 0;
function nextOwnerToken() {
    ownerCounter = (ownerCounter + 1) % Number.MAX_SAFE_INTEGER;
    return `${OWNER_PREFIX}.${ownerCounter.toString(36)}`;
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
//# sourceMappingURL=engine.js.map