/**
 * Runs a store call under a hard deadline. A store that fails or stays silent becomes a
 * `StoreUnavailableError`, so the route's policy decides: no request ever hangs on the store.
 */
export declare function withDeadline<T>(what: string, ms: number, call: () => Promise<T>): Promise<T>;
//# sourceMappingURL=deadline.d.ts.map