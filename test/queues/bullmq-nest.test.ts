/**
 * `idempotentProcessor()` in a NestJS `@Processor()` of `@nestjs/bullmq`, with the store that
 * `TollgateModule` provides: a job whose id comes again runs its work once.
 */
import 'reflect-metadata';

import { BullModule, InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { idempotentProcessor } from '../../src/bullmq.js';
import { RedisStore, TollgateStore, type IdempotencyStore } from '../../src/index.js';
import { TollgateModule } from '../../src/nest.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const charges: string[] = [];

@Processor('payments')
class PaymentsProcessor extends WorkerHost {
  private readonly once: (job: Job) => Promise<unknown>;

  constructor(@Inject(TollgateStore) store: IdempotencyStore) {
    super();
    this.once = idempotentProcessor(store, (job, { fencingToken }) => {
      charges.push(job.id as string);
      return { charged: (job.data as { amount: number }).amount, fencingToken };
    });
  }

  process(job: Job): Promise<unknown> {
    return this.once(job);
  }
}

@Injectable()
class Payments {
  constructor(@InjectQueue('payments') readonly queue: Queue) {}
}

describe('idempotentProcessor in a @nestjs/bullmq processor', () => {
  let redis: RedisServer;
  let store: RedisStore;
  let app: INestApplicationContext;

  beforeAll(async () => {
    redis = await startRedis();
    store = new RedisStore({ url: redis.url });
    const module = await Test.createTestingModule({
      imports: [
        TollgateModule.forRoot({ store }),
        BullModule.forRoot({
          connection: { host: redis.host, port: redis.port, maxRetriesPerRequest: null },
        }),
        BullModule.registerQueue({ name: 'payments' }),
      ],
      providers: [PaymentsProcessor, Payments],
    }).compile();
    app = await module.init();
  });

  afterAll(async () => {
    await app?.close();
    await store?.close();
    await redis?.stop();
  });

  it('a jobId added again after its job was removed completes with the first result, unrun', async () => {
    const { queue } = app.get(Payments);
    const first = await queue.add(
      'charge',
      { amount: 12 },
      { jobId: 'charge-1', removeOnComplete: true },
    );
    const until = performance.now() + 15_000;
    while (charges.length === 0 || (await queue.getJob(first.id as string)) !== undefined) {
      if (performance.now() > until) throw new Error('the first run did not finish');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const again = await queue.add('charge', { amount: 12 }, { jobId: 'charge-1' });
    let result: unknown;
    while ((result = (await queue.getJob(again.id as string))?.returnvalue) == null) {
      if (performance.now() > until) throw new Error('the second job did not finish');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(charges).toEqual(['charge-1']);
    expect(result).toEqual({ charged: 12, fencingToken: expect.any(Number) });
  });
});
