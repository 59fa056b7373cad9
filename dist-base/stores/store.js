/**
 * The store contract. Every store (Redis, in-memory) passes one contract test suite
 * (test/stores/), so the engines can rely on exactly these semantics.
 *
 * Every operation is atomic: a record is written together with its expiry, and every decision is
 * made in one step. Time-to-live values are milliseconds.
 */
/** Injection token for the store, beside the interface of the same name (as @nestjs/throttler does). */
export const TollgateStore = Symbol.for('tollgate:TollgateStore');
//# sourceMappingURL=store.js.map