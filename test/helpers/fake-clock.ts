import type { Clock } from '../../src/core/clock.js';

/** A clock that moves only when told: expiry in the memory store without waiting. */
export class FakeClock implements Clock {
  constructor(private current = 1_700_000_000_000) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}
