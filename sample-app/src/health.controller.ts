import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { SkipIdempotency, SkipThrottle } from 'tollgate/nest';
import { TollgateHealthIndicator } from 'tollgate/nest/terminus';

/**
 * `GET /health`: 200 while the store answers, 503 once it does not (within about a second), for
 * a readiness probe. Never limited nor protected, even under a global guard or interceptor.
 */
@Controller('health')
@SkipThrottle()
@SkipIdempotency()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly tollgate: TollgateHealthIndicator,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Get()
  @HealthCheck()
  async check(
    @Res({ passthrough: true }) response: unknown,
  ): Promise<HealthCheckResult | object | string> {
    try {
      return await this.health.check([() => this.tollgate.isHealthy('store', { timeout: '1s' })]);
    } catch (error) {
      // Terminus answers "down" with this exception; the sample's problem+json filter would hide
      // its details, so the result goes out as Terminus built it, with its 503.
      if (!(error instanceof ServiceUnavailableException)) throw error;
      this.adapterHost.httpAdapter.status(response, 503);
      return error.getResponse();
    }
  }
}
