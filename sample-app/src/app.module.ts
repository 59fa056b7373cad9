import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { Duration, TollgateEvent, TollgateStore } from 'tollgate';
import { TollgateModule } from 'tollgate/nest';
import { TollgateHealthIndicator } from 'tollgate/nest/terminus';
import { CommandsController } from './commands.controller.js';
import { DemoController } from './demo.controller.js';
import { DemoAuthGuard } from './demo-auth.guard.js';
import { HealthController } from './health.controller.js';
import { LoginController } from './login.controller.js';
import { OrdersController } from './orders.controller.js';
import { PaymentsController } from './payments.controller.js';
import { ProblemJsonFilter } from './problem-json.filter.js';
import { QuotesController } from './quotes.controller.js';
import { ReportsController } from './reports.controller.js';
import { PaymentLedger } from './shared/payments.js';

export interface SampleOptions {
  store: TollgateStore;
  /** Where rate-limit counters live when `store` keeps none (`PostgresStore`); default `store`. */
  limitStore?: TollgateStore;
  /** Where `POST /payments` records payments: beside the store (see `openStores`). */
  ledger: PaymentLedger;
  /** The in-progress lease; the sample lets it be shortened to show crash recovery quickly. */
  lease?: Duration;
  /** Hears Tollgate's events: idempotency, rate limits and leases. */
  onEvent?: (event: TollgateEvent) => void;
}

@Module({})
export class AppModule {
  static register(options: SampleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TollgateModule.forRoot({
          store: options.store,
          idempotency: options.lease === undefined ? {} : { lease: options.lease },
          ...(options.limitStore === undefined || options.limitStore === options.store
            ? {}
            : { throttle: { store: options.limitStore } }),
          ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
        }),
        TerminusModule,
      ],
      controllers: [
        OrdersController,
        PaymentsController,
        ReportsController,
        CommandsController,
        QuotesController,
        LoginController,
        DemoController,
        HealthController,
      ],
      providers: [
        TollgateHealthIndicator,
        { provide: PaymentLedger, useValue: options.ledger },
        { provide: APP_GUARD, useClass: DemoAuthGuard },
        { provide: APP_FILTER, useClass: ProblemJsonFilter },
      ],
    };
  }
}
