import { systemClock } from '../../core/clock.js';
import { ExpiringMap } from '../../core/expiring-map.js';
import { InProcessRateLimiter } from '../../core/ratelimit/in-process.js';
/**
 * A store for one process (tests, local development, single-instance apps) with the same
 * semantics as the Redis store. Expired records are dropped lazily on access, a few per write, and
 * by one unref'd sweep timer: never one timer per key.
 */
export class MemoryStore {
    kind = 'memory';
    records;
    maxKeys;
    clock;
    sweeper;
    /** Rate-limit counters, apart from idempotency records and bounded by the same `maxKeys`. */
    rateLimiter;
    constructor(options = {}) {
        this.maxKeys = options.maxKeys ?? 100_000;
        this.records = new ExpiringMap(this.maxKeys);
        this.clock = options.clock ?? systemClock;
        this.rateLimiter = new InProcessRateLimiter({ maxKeys: this.maxKeys, clock: this.clock });
        this.sweeper = setInterval(() => this.sweepExpired(), options.sweepIntervalMs ?? 10_000);
        this.sweeper.unref();
    }
    /** Records currently held, expired ones included until they are swept. */
    get size() {
        return this.records.size;
    }
    async begin(key, owner, fingerprint, leaseMs) {
        const record = this.live(key);
        if (!record) {
            this.write(key, {
                kind: 'in-progress',
                owner,
                fingerprint,
                expiresAt: this.clock.now() + leaseMs,
            });
            return { state: 'acquired' };
        }
        if (record.kind === 'lock')
            return { state: 'in-progress', retryAfterMs: record.expiresAt - this.clock.now() };
        if (record.fingerprint !== fingerprint)
            return { state: 'mismatch' };
        switch (record.kind) {
            case 'in-progress':
                if (record.owner === owner)
                    return { state: 'acquired' };
                return { state: 'in-progress', retryAfterMs: record.expiresAt - this.clock.now() };
            case 'completed':
                return { state: 'completed', response: record.response };
            case 'unstorable':
                return { state: 'unstorable', reason: record.reason };
        }
    }
    async complete(key, owner, response, retentionMs) {
        const record = this.live(key);
        if (!record || record.kind === 'lock' || record.owner !== owner)
            return false;
        if (record.kind === 'completed')
            return true;
        if (record.kind !== 'in-progress')
            return false;
        this.write(key, {
            kind: 'completed',
            owner,
            fingerprint: record.fingerprint,
            expiresAt: this.clock.now() + retentionMs,
            response: copyResponse(response),
        });
        return true;
    }
    async markUnstorable(key, owner, reason, retentionMs) {
        const record = this.live(key);
        if (!record || record.kind === 'lock' || record.owner !== owner)
            return false;
        if (record.kind === 'unstorable')
            return true;
        if (record.kind !== 'in-progress')
            return false;
        this.write(key, {
            kind: 'unstorable',
            owner,
            fingerprint: record.fingerprint,
            expiresAt: this.clock.now() + retentionMs,
            reason,
        });
        return true;
    }
    async release(key, owner) {
        const record = this.live(key);
        if (!record || record.kind !== 'in-progress' || record.owner !== owner)
            return false;
        this.records.delete(key);
        return true;
    }
    async renew(key, owner, leaseMs) {
        const record = this.live(key);
        if (!record || record.kind !== 'in-progress' || record.owner !== owner)
            return false;
        record.expiresAt = this.clock.now() + leaseMs;
        return true;
    }
    async lock(key, ttlMs) {
        const record = this.live(key);
        if (record)
            return { acquired: false, retryAfterMs: record.expiresAt - this.clock.now() };
        this.write(key, { kind: 'lock', expiresAt: this.clock.now() + ttlMs });
        return { acquired: true };
    }
    /** Same semantics as the Redis script: all limits are charged, or none. */
    async consume(key, rules) {
        return this.rateLimiter.consumeNow(key, rules);
    }
    async close() {
        clearInterval(this.sweeper);
    }
    /** The record under `key` unless it has expired (an expired one is dropped on the spot). */
    live(key) {
        return this.records.get(key, this.clock.now());
    }
    write(key, record) {
        this.records.set(key, record, this.clock.now());
    }
    sweepExpired() {
        this.records.sweep(this.clock.now());
    }
}
/** Stored bodies are copied so a caller that reuses its buffer cannot change a stored response. */
function copyResponse(response) {
    return {
        status: response.status,
        headers: response.headers.map(([name, value]) => [name, value]),
        body: new Uint8Array(response.body),
    };
}
//# sourceMappingURL=memory-store.js.map