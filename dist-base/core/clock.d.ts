/** Where the in-memory store and the engines read time, so tests can drive it with a fake clock. */
export interface Clock {
    /** Milliseconds since the epoch. */
    now(): number;
}
export declare const systemClock: Clock;
//# sourceMappingURL=clock.d.ts.map