/** One schedule per lease length: every holder of that lease length shares its timer. */
const schedules = new Map();
/**
 * Renews every running execution's lease at a third of the lease, so two renewals can fail
 * before the lease runs out. One shared timer per lease length instead of a timer per request:
 * most handlers end long before their first renewal, and a timer per request costs an allocation
 * and two timer-list updates on the hot path. A holder added just before a tick is renewed early,
 * which is harmless (one extra call for the few requests that straddle a tick); none waits longer
 * than a third of the lease between renewals.
 */
export function scheduleRenewal(holder, leaseMs) {
    let schedule = schedules.get(leaseMs);
    if (!schedule) {
        const holders = new Set();
        const timer = setInterval(() => renewAll(leaseMs), Math.max(1, Math.floor(leaseMs / 3)));
        // Running executions never keep the process alive on their own.
        timer.unref();
        schedule = { timer, holders };
        schedules.set(leaseMs, schedule);
    }
    schedule.holders.add(holder);
}
/** Stops renewing: the execution finished (or lost its lease). */
export function cancelRenewal(holder, leaseMs) {
    const schedule = schedules.get(leaseMs);
    if (!schedule)
        return;
    schedule.holders.delete(holder);
}
function renewAll(leaseMs) {
    const schedule = schedules.get(leaseMs);
    if (!schedule)
        return;
    if (schedule.holders.size === 0) {
        // Idle for a whole period: drop the timer until a holder with this lease comes again.
        clearInterval(schedule.timer);
        schedules.delete(leaseMs);
        return;
    }
    for (const holder of schedule.holders)
        holder.renew();
}
//# sourceMappingURL=renewals.js.map