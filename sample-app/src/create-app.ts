import 'reflect-metadata';

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MemoryStore, RedisStore, type Duration, type TollgateStore } from '../../src/index.js';
import { AppModule } from './app.module.js';

export interface SampleAppConfig {
  /** `redis://…`; without it the sample uses the in-memory store. */
  redisUrl?: string | undefined;
  lease?: Duration | undefined;
  logger?: false;
}

/** Builds the sample app with its store connected, ready to `listen`. */
export async function createSampleApp(
  config: SampleAppConfig,
): Promise<{ app: INestApplication; store: TollgateStore }> {
  const store: TollgateStore = config.redisUrl
    ? new RedisStore({ url: config.redisUrl })
    : new MemoryStore();
  // Requests that arrive right after "listening" must find the store connected.
  await store.ready?.();
  const app = await NestFactory.create(
    AppModule.register({ store, ...(config.lease === undefined ? {} : { lease: config.lease }) }),
    config.logger === false ? { logger: false } : {},
  );
  app.enableShutdownHooks();
  return { app, store };
}
