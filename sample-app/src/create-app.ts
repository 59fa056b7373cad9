import 'reflect-metadata';

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { TollgateStore } from 'tollgate';
import { AppModule } from './app.module.js';
import { serveDocs } from './docs.js';
import { openStores, type SampleAppConfig } from './shared/config.js';
import type { PaymentLedger } from './shared/payments.js';

export type { SampleAppConfig } from './shared/config.js';

/** The HTTP platform Nest runs the sample on; the routes and their behaviour are the same on both. */
export type SamplePlatform = 'express' | 'fastify';

/** Builds the sample app with its store connected, ready to `listen`. */
export async function createSampleApp(
  config: SampleAppConfig & { platform?: SamplePlatform },
): Promise<{ app: INestApplication; store: TollgateStore; ledger: PaymentLedger }> {
  // Requests that arrive right after "listening" must find the store connected.
  const { store, limitStore, ledger } = await openStores(config);
  const module = AppModule.register({
    store,
    limitStore,
    ledger,
    ...(config.lease === undefined ? {} : { lease: config.lease }),
    ...(config.onEvent === undefined ? {} : { onEvent: config.onEvent }),
  });
  const options = config.logger === false ? { logger: false as const } : {};
  const app =
    config.platform === 'fastify'
      ? await NestFactory.create(module, await fastifyAdapter(), options)
      : await NestFactory.create(module, options);
  app.enableShutdownHooks();
  serveDocs(app);
  return { app, store, ledger };
}

/** Loaded only when asked for, so the Express sample never needs Fastify installed. */
async function fastifyAdapter() {
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  return new FastifyAdapter();
}
