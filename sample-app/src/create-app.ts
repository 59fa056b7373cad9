import 'reflect-metadata';

import type { IncomingMessage, ServerResponse } from 'node:http';

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PROBLEM_CONTENT_TYPE, type TollgateStore } from 'tollgate';
import { AppModule } from './app.module.js';
import { serveDocs } from './docs.js';
import { openStores, type SampleAppConfig } from './shared/config.js';
import { sampleProblem } from './shared/http.js';
import type { SampleMetrics } from './shared/metrics.js';
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
  if (config.metrics) serveMetrics(app, config.metrics);
  return { app, store, ledger };
}

/**
 * `GET /metrics` on the platform itself, beside the controllers: the exporter writes to the
 * Node.js response, which Fastify is told to leave alone (`hijack`).
 */
function serveMetrics(app: INestApplication, metrics: SampleMetrics): void {
  const platform = app.getHttpAdapter();
  if (platform.getType() === 'fastify') {
    const fastify = platform.getInstance() as {
      get(path: string, handler: (request: FastifyLike, reply: FastifyReplyLike) => void): void;
    };
    fastify.get('/metrics', (request, reply) => {
      reply.hijack();
      metrics.serve(request.raw, reply.raw);
    });
    return;
  }
  platform.get('/metrics', (request: IncomingMessage, response: ServerResponse) =>
    metrics.serve(request, response),
  );
}

interface FastifyLike {
  raw: IncomingMessage;
}
interface FastifyReplyLike {
  raw: ServerResponse;
  hijack(): void;
}

/** Loaded only when asked for, so the Express sample never needs Fastify installed. */
async function fastifyAdapter() {
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  return new FastifyAdapter({
    // Fastify's router refuses a URL it cannot decode (400) or a route parameter over its length
    // limit (414) before any hook runs, so Nest's exception filter never sees it. Answered here as
    // the filter answers every other error, written as Fastify writes its own answer to them.
    frameworkErrors: (
      error: Error & { statusCode?: number },
      _request: unknown,
      reply: { raw: ServerResponse },
    ) => {
      const status = error.statusCode ?? 400;
      const body = JSON.stringify(sampleProblem(status, error.message));
      reply.raw
        .writeHead(status, {
          'Content-Type': PROBLEM_CONTENT_TYPE,
          'Content-Length': Buffer.byteLength(body),
        })
        .end(body);
    },
  });
}
