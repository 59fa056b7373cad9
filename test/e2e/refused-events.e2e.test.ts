import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Controller, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';

import { idempotent } from '../../src/express.js';
import { MemoryStore, type TollgateEvent } from '../../src/index.js';
import { Idempotent, TollgateModule } from '../../src/nest.js';
import { request } from '../helpers/http.js';

/**
 * A user the scope cannot identify is refused before the request is described: it still has its
 * one `decision` event, so metrics count every protected request.
 */
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const close of closers) await close();
});

const decisions = (events: TollgateEvent[]) =>
  events.filter((event) => event.type === 'decision').map((event) => JSON.stringify(event));

describe('a user without an id', () => {
  it('is reported as one invalid-request decision on Express', async () => {
    const events: TollgateEvent[] = [];
    const app = express();
    app.use((req, _res, next) => {
      (req as { user?: unknown }).user = { email: 'someone@example.com' };
      next();
    });
    app.post(
      '/orders',
      idempotent({ store: new MemoryStore(), onEvent: (e) => events.push(e) }),
      (_req, res) => {
        res.status(201).end();
      },
    );
    const server: Server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise((done) => server.close(done)));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const response = await request(baseUrl, 'POST', '/orders', {
      headers: { 'idempotency-key': 'k1' },
    });
    expect(response.status).toBe(500);
    expect(decisions(events)).toHaveLength(1);
    expect(events.find((event) => event.type === 'decision')).toMatchObject({
      route: '/orders',
      method: 'POST',
      outcome: 'invalid-request',
      code: 'TOLLGATE_SCOPE_UNRESOLVED',
    });
  });

  it('is reported as one invalid-request decision on Nest', async () => {
    const events: TollgateEvent[] = [];
    @Controller('orders')
    class OrdersController {
      @Post()
      @Idempotent()
      create(): unknown {
        return { ok: true };
      }
    }
    @Module({
      imports: [
        TollgateModule.forRoot({ store: new MemoryStore(), onEvent: (e) => events.push(e) }),
      ],
      controllers: [OrdersController],
    })
    class AppModule {}
    const app: INestApplication = await NestFactory.create(AppModule, { logger: false });
    app.use((req: { user?: unknown }, _res: unknown, next: () => void) => {
      req.user = { email: 'someone@example.com' };
      next();
    });
    await app.listen(0, '127.0.0.1');
    closers.push(() => app.close());
    const { port } = app.getHttpServer().address() as AddressInfo;
    const response = await request(`http://127.0.0.1:${port}`, 'POST', '/orders', {
      headers: { 'idempotency-key': 'k1' },
    });
    expect(response.status).toBe(500);
    expect(decisions(events)).toHaveLength(1);
    expect(events.find((event) => event.type === 'decision')).toMatchObject({
      route: '/orders',
      outcome: 'invalid-request',
      code: 'TOLLGATE_SCOPE_UNRESOLVED',
    });
  });
});
