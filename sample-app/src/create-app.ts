import 'reflect-metadata';

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { TollgateStore } from '../../src/index.js';
import { AppModule } from './app.module.js';
import { openStore, type SampleAppConfig } from './shared/config.js';

export type { SampleAppConfig } from './shared/config.js';

/** Builds the sample app with its store connected, ready to `listen`. */
export async function createSampleApp(
  config: SampleAppConfig,
): Promise<{ app: INestApplication; store: TollgateStore }> {
  // Requests that arrive right after "listening" must find the store connected.
  const store = await openStore(config.redisUrl);
  const app = await NestFactory.create(
    AppModule.register({ store, ...(config.lease === undefined ? {} : { lease: config.lease }) }),
    config.logger === false ? { logger: false } : {},
  );
  app.enableShutdownHooks();
  return { app, store };
}
