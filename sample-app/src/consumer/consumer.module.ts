import { Module, type DynamicModule } from '@nestjs/common';
import type { ChannelModel } from 'amqplib';

import type { ExclusiveLeaseEvent, RedisStore } from 'tollgate';
import { TollgateModule } from 'tollgate/nest';
import {
  AMQP_CONNECTION,
  CONSUMER_SETTINGS,
  EFFECTS_REDIS,
  PolicyConsumer,
  type ConsumerSettings,
} from './policy-consumer.js';

/** The consumer app: Tollgate on Redis (its leases and records), the AMQP connection, the consumer. */
@Module({})
export class ConsumerModule {
  static forRoot(
    store: RedisStore,
    connection: ChannelModel,
    settings: ConsumerSettings,
  ): DynamicModule {
    const { log } = settings;
    return {
      module: ConsumerModule,
      imports: [
        TollgateModule.forRoot({
          store,
          onEvent: (event) => {
            if (event.area !== 'lease') return;
            const lease = event as ExclusiveLeaseEvent;
            if (lease.type === 'lease-acquired')
              log(`leading (fencing token ${lease.fencingToken})`);
            // Renewals refused or unconfirmed: a standby may lead now. Not said on a release.
            if (lease.type === 'lease-lost') log('lost the lease');
            if (lease.type === 'lease-store-unavailable')
              log(`Redis unreachable: ${lease.error.message}`);
            if (lease.type === 'lease-work-failed') log(`stopped leading: ${lease.error.message}`);
          },
        }),
      ],
      providers: [
        PolicyConsumer,
        { provide: AMQP_CONNECTION, useValue: connection },
        // The effects live beside Tollgate's keys in the same Redis: the store's own connection.
        { provide: EFFECTS_REDIS, useValue: store.client },
        { provide: CONSUMER_SETTINGS, useValue: settings },
      ],
    };
  }
}
