/** Something holding a lease that must be renewed while it runs. */
export interface Renewable {
  renew(): void;
}

interface Schedule {
  timer: NodeJS.Timeout;
  holders: Set<Renewable>;
}

/** One schedule per renewal period: every holder of that period shares its timer. */
const schedules = new Map<number, Schedule>();

/** How often a lease is renewed by default: every third of it, so two renewals can fail before it runs out. */
export function renewalPeriod(leaseMs: number): number {
  return Math.max(1, Math.floor(leaseMs / 3));
}

/**
 * Renews `holder` every `periodMs` (see `renewalPeriod`). One shared timer per period instead of
 * a timer per request: most handlers end long before their first renewal, and a timer per request
 * costs an allocation and two timer-list updates on the hot path. A holder added just before a
 * tick is renewed early, which is harmless (one extra call for the few requests that straddle a
 * tick); none waits longer than one period between renewals.
 */
export function scheduleRenewal(holder: Renewable, periodMs: number): void {
  let schedule = schedules.get(periodMs);
  if (!schedule) {
    const holders = new Set<Renewable>();
    const timer = setInterval(() => renewAll(periodMs), Math.max(1, periodMs));
    // Running executions never keep the process alive on their own.
    timer.unref();
    schedule = { timer, holders };
    schedules.set(periodMs, schedule);
  }
  schedule.holders.add(holder);
}

/** Stops renewing: the execution finished (or lost its lease). */
export function cancelRenewal(holder: Renewable, periodMs: number): void {
  const schedule = schedules.get(periodMs);
  if (!schedule) return;
  schedule.holders.delete(holder);
}

function renewAll(periodMs: number): void {
  const schedule = schedules.get(periodMs);
  if (!schedule) return;
  if (schedule.holders.size === 0) {
    // Idle for a whole period: drop the timer until a holder with this period comes again.
    clearInterval(schedule.timer);
    schedules.delete(periodMs);
    return;
  }
  for (const holder of schedule.holders) holder.renew();
}
