import { StoreUnavailableError, TollgateConfigError, toError } from '../../core/errors.js';
/**
 * Idempotency that survives the loss of a minority of Redis nodes without running a request twice.
 *
 * One Redis master replicates asynchronously, so a failover can lose a key it just granted and let a
 * duplicate run. Here every key is taken on independent stores and granted only when a majority
 * granted it; a node that restarts empty, or is replaced, is outvoted by the others. A duplicate is
 * refused as long as a majority of the nodes that took the first request keep their data.
 *
 * Rate limiting is not voted on: it is counted on the first node that answers (a failover may then
 * reset counters), which keeps it one round trip.
 */
export class QuorumStore {
    kind = 'quorum';
    stores;
    majority;
    nodeTimeoutMs;
    constructor(options) {
        if (options.stores.length < 3) {
            throw new TollgateConfigError('TOLLGATE_QUORUM_TOO_SMALL', `QuorumStore needs at least 3 independent stores to outvote a lost one; got ${options.stores.length}`);
        }
        this.stores = [...options.stores];
        this.majority = Math.floor(this.stores.length / 2) + 1;
        this.nodeTimeoutMs = options.nodeTimeoutMs ?? 500;
    }
    async ready() {
        // Ready once a majority is: the others are outvoted until they connect.
        const answers = await this.onEach((store) => store.ready?.() ?? Promise.resolve(), 30_000);
        this.requireMajority(answers, 'connect');
    }
    async begin(key, owner, fingerprint, leaseMs) {
        const answers = await this.onEach((store) => store.begin(key, owner, fingerprint, leaseMs));
        const found = answers.flatMap((answer) => (answer.ok ? [answer.value] : []));
        const acquired = found.filter((result) => result.state === 'acquired').length;
        // A finished result on any node is the result of the one execution: replay it.
        const decided = found.find((result) => result.state === 'completed' || result.state === 'unstorable');
        const mismatch = found.find((result) => result.state === 'mismatch');
        if (!decided && !mismatch && acquired >= this.majority)
            return { state: 'acquired' };
        // Not granted: give back the leases taken on a minority, so they do not block a retry.
        if (acquired > 0)
            await this.onEach((store) => store.release(key, owner));
        if (decided)
            return decided;
        if (mismatch)
            return mismatch;
        this.requireMajority(answers, 'begin');
        // Held elsewhere, or several first requests split the votes: none runs, each retries later.
        const waits = found.map((result) => (result.state === 'in-progress' ? result.retryAfterMs : 0));
        return { state: 'in-progress', retryAfterMs: Math.max(0, ...waits) };
    }
    async complete(key, owner, response, retentionMs) {
        return this.agreed(await this.onEach((store) => store.complete(key, owner, response, retentionMs)));
    }
    async markUnstorable(key, owner, reason, retentionMs) {
        return this.agreed(await this.onEach((store) => store.markUnstorable(key, owner, reason, retentionMs)));
    }
    async release(key, owner) {
        const answers = await this.onEach((store) => store.release(key, owner));
        return answers.some((answer) => answer.ok && answer.value);
    }
    async renew(key, owner, leaseMs) {
        return this.agreed(await this.onEach((store) => store.renew(key, owner, leaseMs)));
    }
    async lock(key, ttlMs) {
        const answers = await this.onEach((store) => store.lock(key, ttlMs));
        const found = answers.flatMap((answer) => (answer.ok ? [answer.value] : []));
        if (found.filter((result) => result.acquired).length >= this.majority)
            return { acquired: true };
        this.requireMajority(answers, 'lock');
        // Locks taken on a minority are never released: like every lock, they expire.
        const waits = found.map((result) => (result.acquired ? 0 : result.retryAfterMs));
        return { acquired: false, retryAfterMs: Math.max(0, ...waits) };
    }
    async consume(key, rules) {
        let lastError = new StoreUnavailableError('no store can rate limit');
        for (const store of this.stores) {
            if (!store.consume)
                continue;
            const consume = store.consume.bind(store);
            const [answer] = await this.onEach(() => consume(key, rules), this.nodeTimeoutMs, [store]);
            if (answer?.ok)
                return answer.value;
            if (answer)
                lastError = answer.error;
        }
        throw lastError;
    }
    async close() {
        await Promise.all(this.stores.map((store) => store.close?.()));
    }
    /** True when a majority confirmed; nodes that failed count as no. */
    agreed(answers) {
        return answers.filter((answer) => answer.ok && answer.value).length >= this.majority;
    }
    requireMajority(answers, what) {
        const answered = answers.filter((answer) => answer.ok).length;
        if (answered < this.majority) {
            const reasons = answers.flatMap((answer) => (answer.ok ? [] : [answer.error.message]));
            throw new StoreUnavailableError(`only ${answered} of ${this.stores.length} stores answered ${what}; ${this.majority} are needed (${reasons.join('; ')})`);
        }
    }
    /** Calls every node at once, each under its own deadline; a failure is an answer, not a throw. */
    onEach(call, timeoutMs = this.nodeTimeoutMs, stores = this.stores) {
        return Promise.all(stores.map(async (store) => {
            let timer;
            try {
                const deadline = new Promise((_, reject) => {
                    timer = setTimeout(() => reject(new Error(`${store.kind} store did not answer in ${timeoutMs} ms`)), timeoutMs);
                });
                return { ok: true, value: await Promise.race([call(store), deadline]) };
            }
            catch (error) {
                return { ok: false, error: toError(error) };
            }
            finally {
                clearTimeout(timer);
            }
        }));
    }
}
//# sourceMappingURL=quorum-store.js.map