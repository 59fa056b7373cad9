import type { Server } from 'node:http';

import { Body, Controller, Header, HttpCode, Module, Post } from '@nestjs/common';
import express from 'express';

import { idempotent } from '../../src/express.js';
import { Idempotent, TollgateModule } from '../../src/nest.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { createNestApp, NEST_PLATFORMS, type NestPlatform } from '../helpers/nest-platforms.js';
import { baseUrlOf } from './otel-capture.js';

/**
 * The apps the OpenTelemetry suites run: each answers `POST /orders` with 201, an ETag and a JSON
 * body that says how often it ran, under Tollgate's idempotency.
 */
export interface ServedApp {
  url: string;
  runs(): number;
  close(): Promise<void>;
}

export async function serveExpressApp(): Promise<ServedApp> {
  let runs = 0;
  const app = express();
  app.use(express.json());
  app.post('/orders', idempotent({ store: new MemoryStore() }), (req, res) => {
    runs++;
    res
      .status(201)
      .set('ETag', `"order-${runs}"`)
      .location(`/orders/${runs}`)
      .json({ ...(req.body as object), id: runs });
  });
  // Part of the body, then the response cut off: the handler ran, so it must not run again.
  app.post('/cut-off', idempotent({ store: new MemoryStore() }), (_req, res) => {
    runs++;
    res.status(200).write('part of it');
    setTimeout(() => res.destroy(), 20);
  });
  // Given up before any byte: nothing to replay, so a retry runs again.
  app.post('/given-up', idempotent({ store: new MemoryStore() }), (_req, res) => {
    runs++;
    res.destroy();
  });
  const server: Server = app.listen(0, '127.0.0.1');
  const url = await baseUrlOf(server);
  return {
    url,
    runs: () => runs,
    async close() {
      const closed = new Promise((done) => server.close(done));
      server.closeAllConnections();
      await closed;
    },
  };
}

let nestRuns = 0;

@Controller('orders')
class OrdersController {
  @Post()
  @Idempotent()
  @HttpCode(201)
  @Header('ETag', '"order"')
  create(@Body() body: object): object {
    nestRuns++;
    return { ...body, id: nestRuns };
  }
}

@Module({
  imports: [TollgateModule.forRoot({ store: new MemoryStore() })],
  controllers: [OrdersController],
})
class OrdersModule {}

export async function serveNestApp(platform: NestPlatform): Promise<ServedApp> {
  const app = await createNestApp(OrdersModule, platform);
  await app.listen(0, '127.0.0.1');
  const url = await baseUrlOf(app.getHttpServer() as Server);
  return { url, runs: () => nestRuns, close: () => app.close() };
}

/** Every app the suites run, by name. */
export const APPS: Readonly<Record<string, () => Promise<ServedApp>>> = {
  Express: serveExpressApp,
  ...Object.fromEntries(
    NEST_PLATFORMS.map((platform) => [`Nest on ${platform}`, () => serveNestApp(platform)]),
  ),
};
