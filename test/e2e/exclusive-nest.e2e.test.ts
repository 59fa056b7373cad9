/**
 * `@Exclusive()` on a `@nestjs/schedule` job: two instances of one app on one real Redis, and the
 * job runs on one of them at a time; when that one shuts down, the other takes over at its next
 * tick. Two Nest apps in one process stand for two instances: each has its own TollgateModule and
 * its own connection.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RedisStore, type ExclusiveLease } from '../../src/index.js';
import { Exclusive, TollgateModule } from '../../src/nest.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

/** Every run of the job: which instance ran it, and with which token. */
const runs: Array<{ instance: string; token: number; held: boolean }> = [];

@Injectable()
class ReportJob {
  instance = '';

  @Interval(50)
  @Exclusive('nightly-report', { ttl: '900ms' })
  build(lease?: ExclusiveLease): void {
    runs.push({ instance: this.instance, token: lease?.fencingToken ?? -1, held: !!lease?.held });
  }
}

async function startInstance(name: string, redisUrl: string): Promise<INestApplicationContext> {
  @Module({
    imports: [
      ScheduleModule.forRoot(),
      TollgateModule.forRoot({ store: new RedisStore({ url: redisUrl }) }),
    ],
    providers: [ReportJob],
  })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  app.get(ReportJob).instance = name;
  return app;
}

describe('@Exclusive() on a scheduled job, two instances on one Redis', () => {
  let redis: RedisServer;
  let a: INestApplicationContext;
  let b: INestApplicationContext;

  beforeAll(async () => {
    redis = await startRedis();
    a = await startInstance('a', redis.url);
    b = await startInstance('b', redis.url);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('runs the job on one instance at a time, holding its lease between ticks', async () => {
    await sleep(1_200);
    const instances = new Set(runs.map((run) => run.instance));
    expect(runs.length).toBeGreaterThan(5);
    expect(instances.size).toBe(1);
    expect(runs.every((run) => run.held && run.token === runs[0]?.token)).toBe(true);
  });

  it('hands the job over when the holding instance shuts down, with a greater token', async () => {
    const first = runs[0];
    if (!first) throw new Error('the job never ran');
    const holder = first.instance === 'a' ? a : b;
    const before = runs.length;
    const closedAt = performance.now();
    await holder.close();
    // Released on shutdown: the other instance takes over at its next tick, not after the ttl.
    while (!runs.slice(before).some((run) => run.instance !== first.instance)) {
      if (performance.now() - closedAt > 2_000) throw new Error('no takeover');
      await sleep(10);
    }
    expect(performance.now() - closedAt).toBeLessThan(600);
    const next = runs.slice(before).find((run) => run.instance !== first.instance);
    expect(next?.token).toBeGreaterThan(first.token);
  });
});
