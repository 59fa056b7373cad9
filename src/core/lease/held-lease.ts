import { observedCall } from '../report.js';
import type { ExclusiveLeaseEvent } from './events.js';
import type { ExclusiveLease } from './exclusive-lease.js';
import { LeaseKeeper, type KeptLease } from './keeper.js';
import type { Lease } from './lease.js';

/** An exclusive lease this process holds: renewed by its keeper until released or lost. */
export class HeldLease implements ExclusiveLease {
  private readonly keeper: LeaseKeeper;
  private released: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly lease: Lease,
    private readonly kept: KeptLease & { onEvent: (event: ExclusiveLeaseEvent) => void },
  ) {
    this.keeper = new LeaseKeeper(kept, lease, () =>
      kept.onEvent({
        area: 'lease',
        type: 'lease-lost',
        name,
        reason: 'another holder has it now',
      }),
    );
    this.keeper.start();
    // Lost by its deadline (renewals failing, a stall): said once, as the store's "not yours" is.
    lease.signal.addEventListener(
      'abort',
      () => {
        if (this.released === undefined && this.keeper.running) {
          this.keeper.stop();
          kept.onEvent({
            area: 'lease',
            type: 'lease-lost',
            name,
            reason: 'not confirmed in time',
          });
        }
      },
      { once: true },
    );
  }

  get fencingToken(): number {
    return this.lease.fencingToken;
  }

  get signal(): AbortSignal {
    return this.lease.signal;
  }

  get held(): boolean {
    return this.released === undefined && this.lease.held;
  }

  throwIfLost(): void {
    this.lease.throwIfLost();
  }

  release(): Promise<void> {
    this.released ??= this.giveUp();
    return this.released;
  }

  private async giveUp(): Promise<void> {
    const wasRenewing = this.keeper.running;
    this.keeper.stop();
    this.lease.lose('it was released');
    this.lease.end();
    if (!wasRenewing) return;
    const { store, key, owner, storeTimeoutMs, onEvent, observe } = this.kept;
    try {
      // Owner-checked: never another holder's lease.
      await observedCall('release', storeTimeoutMs, () => store.release(key, owner), observe);
    } catch {
      // Unreachable: the lease simply runs out on its own.
    }
    onEvent({ area: 'lease', type: 'lease-released', name: this.name });
  }
}
