import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';

import { toMilliseconds, type Duration } from '../../core/duration.js';
import { checkStoreHealth } from '../../core/health.js';
import { TollgateStore } from '../../core/store.js';

/** Options of `TollgateHealthIndicator.isHealthy`. */
export interface TollgateHealthOptions {
  /** A store slower than this is reported down. Default `'1s'`. */
  timeout?: Duration;
}

/**
 * The store Tollgate uses, as a `@nestjs/terminus` health indicator: `up` while the store can serve
 * requests (Redis answers `PING` in time; a quorum's majority does), `down` otherwise, with the
 * latency, the reason and, for a quorum, each node. Provide it beside `TerminusModule`; it reads
 * the store of `TollgateModule` (global by default).
 *
 * @example
 * ```ts
 * @Module({ imports: [TerminusModule], controllers: [HealthController], providers: [TollgateHealthIndicator] })
 * export class HealthModule {}
 *
 * @Get('health')
 * @HealthCheck()
 * check() {
 *   return this.health.check([() => this.tollgate.isHealthy('tollgate', { timeout: '500ms' })]);
 * }
 * ```
 */
@Injectable()
export class TollgateHealthIndicator {
  constructor(
    @Inject(TollgateStore) private readonly store: TollgateStore,
    private readonly indicators: HealthIndicatorService,
  ) {}

  async isHealthy<const Key extends string = 'tollgate'>(
    key: Key = 'tollgate' as Key,
    options: TollgateHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const indicator = this.indicators.check(key);
    const { status, ...health } = await checkStoreHealth(
      this.store,
      options.timeout === undefined
        ? {}
        : { timeoutMs: toMilliseconds(options.timeout, 'timeout') },
    );
    const data = { store: this.store.kind, ...health };
    return status === 'up' ? indicator.up(data) : indicator.down(data);
  }
}
