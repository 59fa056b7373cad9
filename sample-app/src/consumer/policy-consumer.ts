import { setTimeout as sleep } from 'node:timers/promises';

import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { ChannelModel } from 'amqplib';
import type { Cluster, Redis } from 'ioredis';

import { ExclusiveLeases, TollgateStore, type Duration, type IdempotencyStore } from 'tollgate';
import { exclusiveConsumer, type ExclusiveConsumer } from 'tollgate/amqp';
import { applyPolicy, CONSUMER_LEASE, parsePolicy, POLICY_QUEUE } from './policies.js';

/** What the consumer is started with (from its environment). */
export interface ConsumerSettings {
  lease: Duration;
  workMs: number;
  log: (line: string) => void;
}
export const CONSUMER_SETTINGS = Symbol('consumer settings');
export const AMQP_CONNECTION = Symbol('amqp connection');
export const EFFECTS_REDIS = Symbol('effects redis');

/**
 * The queue's consumer, on every instance of the app: it consumes only while this instance holds
 * the lease `policy-consumer`, and applies each message once, fenced by the lease's token.
 */
@Injectable()
export class PolicyConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumer: ExclusiveConsumer | undefined;

  constructor(
    private readonly leases: ExclusiveLeases,
    @Inject(TollgateStore) private readonly store: IdempotencyStore,
    @Inject(AMQP_CONNECTION) private readonly connection: ChannelModel,
    @Inject(EFFECTS_REDIS) private readonly redis: Redis | Cluster,
    @Inject(CONSUMER_SETTINGS) private readonly settings: ConsumerSettings,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { lease, workMs, log } = this.settings;
    const channel = await this.connection.createChannel();
    await channel.assertQueue(POLICY_QUEUE, { durable: true });
    await channel.close();
    this.consumer = exclusiveConsumer({
      leases: this.leases,
      store: this.store,
      connection: this.connection,
      name: CONSUMER_LEASE,
      queue: POLICY_QUEUE,
      lease: { ttl: lease },
      handle: async (message, { fencingToken, signal, lease: held }) => {
        const { id } = parsePolicy(message.content);
        // The work itself; the signal stops it as soon as the lease may go to another instance.
        if (workMs > 0) await sleep(workMs, undefined, { signal });
        // Checked before writing; the fence refuses the write of a holder that stalled after this
        // check, past its lease, once a newer holder has written.
        held.throwIfLost();
        const done = await applyPolicy(this.redis, id, fencingToken);
        log(done === 'applied' ? `applied ${id}` : `skipped ${id} (applied already)`);
      },
      onEvent: (event) => {
        if (event.type === 'duplicate') log(`skipped ${event.messageId} (handled before)`);
        if (event.type === 'queue-busy')
          log('waiting for the previous consumer to leave the queue');
        if (event.type === 'stopped') log(`stopped consuming: ${event.reason}`);
      },
    });
    this.consumer.done.catch((error: unknown) => log(`consumer failed: ${String(error)}`));
    log(`standing by for the lease "${CONSUMER_LEASE}" (ttl ${lease})`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.stop();
  }
}
