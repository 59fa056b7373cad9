/**
 * Transactional completion over real HTTP, on Nest (Express and Fastify platforms) and on plain
 * Express, with PostgresStore on a real PostgreSQL: the handler writes a ledger row and its result
 * is recorded in the same transaction. Counted by ledger rows: a committed request never runs
 * again, even when its process never records the response; a failed one rolls back and runs once.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Module,
  Post,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ClientProxyFactory,
  MessagePattern,
  Payload,
  Transport,
  type ClientOptions,
} from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import express, { type ErrorRequestHandler } from 'express';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { idempotent } from '../../src/express.js';
import { TollgateHttpError, type IdempotencyLease } from '../../src/index.js';
import { Idempotent, Lease, Throttle, ThrottleGuard, TollgateModule } from '../../src/nest.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { PostgresStore } from '../../src/postgres.js';
import { request } from '../helpers/http.js';
import { createNestApp, NEST_PLATFORMS } from '../helpers/nest-platforms.js';
import { findFreePort } from '../helpers/redis-server.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.js';

let server: PostgresServer;
let pool: pg.Pool;

beforeAll(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ connectionString: server.url, max: 10 });
  await pool.query('CREATE TABLE payments (id serial PRIMARY KEY, key text NOT NULL, amount int)');
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

interface PaymentBody {
  amount: number;
}

/**
 * The handler both apps run. `x-fail: inside` throws inside the transaction (after the insert);
 * `x-fail: after-commit` never answers once committed, as a process that died right after its
 * commit (its response is never recorded).
 */
async function pay(
  lease: IdempotencyLease,
  key: string,
  body: PaymentBody,
  fail: string | undefined,
): Promise<{ id: number; amount: number }> {
  const payment = await lease.transaction(
    async (client: pg.PoolClient) => {
      const { rows } = await client.query<{ id: number }>(
        'INSERT INTO payments (key, amount) VALUES ($1, $2) RETURNING id',
        [key, body.amount],
      );
      if (fail === 'inside') throw new Error('the payment provider hung up');
      return { id: (rows[0] as { id: number }).id, amount: body.amount };
    },
    { status: 201, headers: { location: `/payments/${key}` } },
  );
  if (fail === 'after-commit') await new Promise(() => undefined);
  return payment;
}

async function ledger(key: string): Promise<number> {
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM payments WHERE key = $1', [
    key,
  ]);
  return (rows[0] as { n: number }).n;
}

@Controller('payments')
class PaymentsController {
  @Post()
  @Idempotent()
  create(
    @Body() body: PaymentBody,
    @Headers('idempotency-key') key: string,
    @Headers('x-fail') fail: string | undefined,
    @Lease() lease: IdempotencyLease,
  ) {
    return pay(lease, key, body, fail);
  }

  @Post('accepted')
  @HttpCode(202)
  @Idempotent()
  accept(
    @Body() body: PaymentBody,
    @Headers('idempotency-key') key: string,
    @Headers('x-fail') fail: string | undefined,
    @Lease() lease: IdempotencyLease,
  ) {
    return lease
      .transaction(async (client: pg.PoolClient) => {
        await client.query('INSERT INTO payments (key, amount) VALUES ($1, $2)', [
          key,
          body.amount,
        ]);
        return { accepted: body.amount };
      })
      .then(async (value) => {
        if (fail === 'after-commit') await new Promise(() => undefined);
        return value;
      });
  }
}

/** Plain Express: the same handler, its errors rendered as problem+json. */
function expressApp(store: PostgresStore): express.Express {
  const app = express();
  app.use(express.json());
  app.post('/payments', idempotent({ store, onEvent: () => undefined }), async (req, res, next) => {
    try {
      const payment = await pay(
        req.idempotency as IdempotencyLease,
        String(req.headers['idempotency-key']),
        req.body as PaymentBody,
        req.headers['x-fail'] as string | undefined,
      );
      res
        .status(201)
        .location(`/payments/${String(req.headers['idempotency-key'])}`)
        .json(payment);
    } catch (error) {
      next(error);
    }
  });
  // The status is set before the record is written, and the record takes it (no `status` option).
  app.post(
    '/payments/accepted',
    idempotent({ store, onEvent: () => undefined }),
    async (req, res, next) => {
      try {
        res.status(202);
        const key = String(req.headers['idempotency-key']);
        const amount = (req.body as PaymentBody).amount;
        const value = await (req.idempotency as IdempotencyLease).transaction(
          async (client: pg.PoolClient) => {
            await client.query('INSERT INTO payments (key, amount) VALUES ($1, $2)', [key, amount]);
            return { accepted: amount };
          },
        );
        if (req.headers['x-fail'] === 'after-commit') await new Promise(() => undefined);
        res.json(value);
      } catch (error) {
        next(error);
      }
    },
  );
  const problems: ErrorRequestHandler = (error, _req, res, next) => {
    if (!(error instanceof TollgateHttpError)) return next(error);
    res.status(error.status).set(error.headers).type('application/problem+json');
    res.send(JSON.stringify(error.toProblem()));
  };
  app.use(problems);
  return app;
}

interface Served {
  baseUrl: string;
  close(): Promise<void>;
}

const targets: Array<[string, () => Promise<Served>]> = [
  ...NEST_PLATFORMS.map((platform): [string, () => Promise<Served>] => [
    `Nest on ${platform}`,
    async () => {
      const store = new PostgresStore({ pool });
      await store.ensureSchema();
      @Module({
        imports: [TollgateModule.forRoot({ store, onEvent: () => undefined })],
        controllers: [PaymentsController],
      })
      class AppModule {}
      const app: INestApplication = await createNestApp(AppModule, platform);
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as AddressInfo;
      return {
        baseUrl: `http://127.0.0.1:${port}`,
        close: async () => {
          // The handlers that never answer would keep Fastify's close waiting for ever.
          (app.getHttpServer() as Server).closeAllConnections();
          await app.close();
        },
      };
    },
  ]),
  [
    'Express',
    async () => {
      const store = new PostgresStore({ pool });
      await store.ensureSchema();
      const http: Server = expressApp(store).listen(0, '127.0.0.1');
      await once(http, 'listening');
      return {
        baseUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
        close: async () => {
          http.closeAllConnections();
          await new Promise((done) => http.close(done));
          await store.close();
        },
      };
    },
  ],
];

describe.each(targets)('%s, PostgresStore, lease.transaction()', (name, serve) => {
  let app: Served;
  beforeAll(async () => {
    app = await serve();
  });
  afterAll(async () => {
    await app?.close();
  });

  const post = (key: string, fail?: string, path = '/payments') =>
    request(app.baseUrl, 'POST', path, {
      body: { amount: 12 },
      headers: { 'idempotency-key': key, ...(fail ? { 'x-fail': fail } : {}) },
    });
  /** A request whose handler commits and then never answers; resolves once it has committed. */
  const commitAndVanish = async (key: string, path = '/payments'): Promise<void> => {
    const abandoned = new AbortController();
    const first = fetch(`${app.baseUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': key,
        'x-fail': 'after-commit',
      },
      body: JSON.stringify({ amount: 12 }),
      signal: abandoned.signal,
    }).catch(() => undefined);
    for (let i = 0; i < 200 && (await ledger(key)) === 0; i++) await sleep(20);
    abandoned.abort();
    await first;
  };

  it('runs once and replays the recorded response', async () => {
    const key = randomUUID();
    const first = await post(key);
    expect(first.status).toBe(201);
    const again = await post(key);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await ledger(key)).toBe(1);
  });

  it('rolls the row back when the handler fails inside its transaction, and the retry runs once', async () => {
    const key = randomUUID();
    expect((await post(key, 'inside')).status).toBe(500);
    expect(await ledger(key)).toBe(0);
    // The key is released once the failure has been answered: a retry in between is told 409
    // and comes back, as a client following Retry-After does.
    let retry = await post(key);
    for (let i = 0; i < 50 && retry.status === 409; i++) {
      await sleep(20);
      retry = await post(key);
    }
    expect(retry.status).toBe(201);
    expect(await ledger(key)).toBe(1);
  });

  it('answers a retry from the committed result when the first never recorded its response', async () => {
    const key = randomUUID();
    // Committed: the row is there, and the handler will never answer.
    await commitAndVanish(key);
    const retry = await post(key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('content-type')).toMatch(/^application\/json/);
    expect(retry.headers.get('location')).toBe(`/payments/${key}`);
    expect(retry.json()).toEqual({ id: expect.any(Number), amount: 12 });
    expect(await ledger(key)).toBe(1);
  });

  // Nest: the route's own status (@HttpCode); Express: what the handler set before recording.
  it('answers from the committed result with the status the response had', async () => {
    const key = randomUUID();
    await commitAndVanish(key, '/payments/accepted');
    const retry = await post(key, undefined, '/payments/accepted');
    expect(retry.status).toBe(202);
    expect(retry.json()).toEqual({ accepted: 12 });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
  });
});

@Controller('quotes')
@UseGuards(ThrottleGuard)
class QuotesController {
  @Get()
  @Throttle({ burst: { limit: 1, ttl: '10s' } })
  quote() {
    return { price: 1 };
  }
}

describe('Nest: rate limits beside a PostgresStore', () => {
  it('refuse to start on the PostgresStore alone, and count in throttle.store', async () => {
    const store = new PostgresStore({ pool });
    const limits = { everyone: { limit: 100, ttl: '1m' } } as const;
    @Module({ imports: [TollgateModule.forRoot({ store, throttle: { limits } })] })
    class Refused {}
    await expect(
      NestFactory.create(Refused, { logger: false, abortOnError: false }),
    ).rejects.toMatchObject({ code: 'TOLLGATE_STORE_CANNOT_RATE_LIMIT' });

    @Module({
      imports: [TollgateModule.forRoot({ store, throttle: { store: new MemoryStore(), limits } })],
      controllers: [QuotesController],
    })
    class Served {}
    const app = await createNestApp(Served, 'express');
    try {
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as AddressInfo;
      const base = `http://127.0.0.1:${port}`;
      expect((await request(base, 'GET', '/quotes')).status).toBe(200);
      expect((await request(base, 'GET', '/quotes')).status).toBe(429);
    } finally {
      await app.close();
    }
  });
});

@Controller()
class MessagesController {
  /** Replies with an array: one reply value, which a replay must not split into several. */
  @MessagePattern('pay')
  @Idempotent()
  async pay(
    @Payload() data: { id: string; amount: number; vanish?: boolean },
    @Lease() lease: IdempotencyLease,
  ) {
    const reply = await lease.transaction(async (client: pg.PoolClient) => {
      await client.query('INSERT INTO payments (key, amount) VALUES ($1, $2)', [
        data.id,
        data.amount,
      ]);
      return [{ paid: data.amount }, 'receipt'];
    });
    if (data.vanish) await new Promise(() => undefined);
    return reply;
  }
}

describe('Nest microservice (TCP), PostgresStore, lease.transaction()', () => {
  it('answers a redelivery from the committed result, as the one value the handler returned', async () => {
    const store = new PostgresStore({ pool });
    await store.ensureSchema();
    @Module({
      imports: [TollgateModule.forRoot({ store, onEvent: () => undefined })],
      controllers: [MessagesController],
    })
    class MessagesModule {}
    const options: ClientOptions = {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: await findFreePort() },
    };
    const server = await NestFactory.createMicroservice(MessagesModule, {
      ...options,
      logger: false,
    });
    await server.listen();
    const client = ClientProxyFactory.create(options);
    try {
      const id = randomUUID();
      // The first delivery commits, then never replies: its process is as good as gone.
      await expect(
        firstValueFrom(client.send('pay', { id, amount: 7, vanish: true }).pipe(timeout(1_000))),
      ).rejects.toThrow();
      expect(await ledger(id)).toBe(1);
      const replayed = await firstValueFrom(client.send('pay', { id, amount: 7, vanish: true }));
      expect(replayed).toEqual([{ paid: 7 }, 'receipt']);
      expect(await ledger(id)).toBe(1);
    } finally {
      client.close();
      await server.close();
    }
  });
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
