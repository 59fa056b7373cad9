/** Something holding a lease that must be renewed while it runs. */
export interface Renewable {
    renew(): void;
}
/**
 * Renews every running execution's lease at a third of the lease, so two renewals can fail
 * before the lease runs out. One shared timer per lease length instead of a timer per request:
 * most handlers end long before their first renewal, and a timer per request costs an allocation
 * and two timer-list updates on the hot path. A holder added just before a tick is renewed early,
 * which is harmless (one extra call for the few requests that straddle a tick); none waits longer
 * than a third of the lease between renewals.
 */
export declare function scheduleRenewal(holder: Renewable, leaseMs: number): void;
/** Stops renewing: the execution finished (or lost its lease). */
export declare function cancelRenewal(holder: Renewable, leaseMs: number): void;
//# sourceMappingURL=renewals.d.ts.map