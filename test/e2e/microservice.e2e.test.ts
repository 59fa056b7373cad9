import { randomUUID } from 'node:crypto';

import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import {
  ClientProxyFactory,
  EventPattern,
  MessagePattern,
  Payload,
  RpcException,
  Transport,
  type ClientProxy,
  type ClientOptions,
} from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, toArray, of, delay, concat } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  MemoryStore,
  RedisStore,
  type IdempotencyLease,
  type TollgateStore,
} from '../../src/index.js';
import { Idempotent, IdempotencyInterceptor, Lease, TollgateModule } from '../../src/nest.js';
import { findFreePort, startRedis, type RedisServer } from '../helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every handler execution, by handler: what "runs once" is measured by. */
const runs = new Map<string, number>();
const ran = (handler: string): number => {
  const count = (runs.get(handler) ?? 0) + 1;
  runs.set(handler, count);
  return count;
};
const count = (handler: string): number => runs.get(handler) ?? 0;
/** Payloads the event handlers received, by event. */
const received = new Map<string, unknown[]>();
/** Message ids whose handler fails on its first run, to show that a failure releases the id. */
const failOnce = new Set<string>();

interface Charge {
  id: string;
  amount: number;
}

@Controller()
class PaymentsController {
  @MessagePattern('charge')
  @Idempotent()
  charge(@Payload() data: Charge): unknown {
    const run = ran('charge');
    if (failOnce.delete(data.id)) throw new RpcException({ message: 'card declined', run });
    return { chargeId: `ch_${run}`, amount: data.amount };
  }

  /** No id in the payload: its fingerprint identifies it. */
  @MessagePattern({ cmd: 'quote' })
  @Idempotent()
  quote(@Payload() data: { item: string }): unknown {
    return { item: data.item, quote: ran('quote') };
  }

  @MessagePattern('refund')
  @Idempotent({ messageId: (data) => (data as { refundRef?: string }).refundRef })
  refund(@Payload() data: { refundRef: string; note: string }): unknown {
    return { refund: ran('refund'), note: data.note };
  }

  @MessagePattern('slow')
  @Idempotent()
  async slow(@Payload() data: Charge): Promise<unknown> {
    const run = ran('slow');
    await sleep(300);
    return { slow: run, id: data.id };
  }

  /** Replies with a stream of values: all of them are replayed, in order. */
  @MessagePattern('countdown')
  @Idempotent()
  countdown(@Payload() _data: { id: string }): unknown {
    const run = ran('countdown');
    return concat(of(3), of(2).pipe(delay(5)), of(`lift-off ${run}`));
  }

  /** Returns nothing: replays nothing, rather than `null`. */
  @MessagePattern('ping')
  @Idempotent()
  ping(@Payload() _data: { id: string }): void {
    ran('ping');
  }

  /** Reads its lease: the fencing token a downstream write would be fenced with. */
  @MessagePattern('fenced')
  @Idempotent()
  fenced(@Payload() _data: { id: string }, @Lease() lease: IdempotencyLease | undefined): unknown {
    return { run: ran('fenced'), token: lease?.fencingToken ?? null, held: lease?.held ?? null };
  }

  @MessagePattern('unprotected')
  unprotected(@Payload() _data: { id: string }): unknown {
    return { run: ran('unprotected') };
  }

  @EventPattern('order.created')
  @Idempotent()
  async orderCreated(@Payload() data: { id: string; item: string }): Promise<void> {
    ran('order.created');
    if (failOnce.delete(data.id)) throw new Error('the projection is not ready');
    await sleep(5);
    received.set('order.created', [...(received.get('order.created') ?? []), data]);
  }

  /**
   * A second handler of the same event: it keeps its own record, never the first one's. It is
   * still running when the first one fails, which makes Nest let go of it.
   */
  @EventPattern('order.created')
  @Idempotent()
  async orderCreatedAudit(@Payload() _data: unknown): Promise<void> {
    ran('order.created/audit');
    await sleep(20);
  }
}

type TransportKind = 'tcp' | 'redis';

/**
 * `@Idempotent()` on microservice handlers, over real transports: TCP (no broker) with the
 * in-memory store, and the Redis transport with the Redis store on a real redis-server.
 */
describe.each(['tcp', 'redis'] as const)(
  'Nest microservice over %s',
  (transport: TransportKind) => {
    let redis: RedisServer | undefined;
    let server: INestMicroservice;
    let client: ClientProxy;
    let clientOptions: ClientOptions;

    beforeAll(async () => {
      let store: TollgateStore;
      if (transport === 'redis') {
        redis = await startRedis();
        store = new RedisStore({ url: redis.url });
        await store.ready?.();
        clientOptions = {
          transport: Transport.REDIS,
          options: { host: redis.host, port: redis.port },
        };
      } else {
        store = new MemoryStore();
        const port = await findFreePort();
        clientOptions = { transport: Transport.TCP, options: { host: '127.0.0.1', port } };
      }

      @Module({
        imports: [TollgateModule.forRoot({ store })],
        controllers: [PaymentsController],
      })
      class MessagesModule {}

      server = await NestFactory.createMicroservice(MessagesModule, {
        ...clientOptions,
        logger: false,
      });
      await server.listen();
      client = ClientProxyFactory.create(clientOptions);
      await client.connect();
    });

    afterAll(async () => {
      await client?.close();
      await server?.close();
      await redis?.stop();
    });

    const send = <T = Record<string, unknown>>(pattern: unknown, data: unknown): Promise<T> =>
      firstValueFrom(client.send<T>(pattern, data));
    /** The error a `send()` fails with, as the client receives it. */
    const sendError = async (pattern: unknown, data: unknown): Promise<Record<string, unknown>> => {
      try {
        await send(pattern, data);
      } catch (error) {
        return error as Record<string, unknown>;
      }
      throw new Error('the message was expected to fail');
    };
    /** Waits until the event handlers are done: nothing changes for a while. */
    const settle = async (): Promise<void> => {
      let last = JSON.stringify([...runs]);
      for (let quiet = 0; quiet < 4;) {
        await sleep(50);
        const now = JSON.stringify([...runs]);
        quiet = now === last ? quiet + 1 : 0;
        last = now;
      }
    };

    it('runs a redelivered @MessagePattern once and replies the same to both deliveries', async () => {
      const before = count('charge');
      const charge = { id: randomUUID(), amount: 40 };
      const first = await send('charge', charge);
      const second = await send('charge', charge);
      expect(count('charge') - before).toBe(1);
      expect(second).toEqual(first);
      expect(first).toMatchObject({ amount: 40 });
    });

    it('runs two messages with different ids twice', async () => {
      const before = count('charge');
      const first = await send('charge', { id: randomUUID(), amount: 1 });
      const second = await send('charge', { id: randomUUID(), amount: 1 });
      expect(count('charge') - before).toBe(2);
      expect(second.chargeId).not.toBe(first.chargeId);
    });

    it('keys a message without an id by its payload: same payload once, different payloads twice', async () => {
      const before = count('quote');
      const item = randomUUID();
      const first = await send({ cmd: 'quote' }, { item });
      expect(await send({ cmd: 'quote' }, { item })).toEqual(first);
      const other = await send({ cmd: 'quote' }, { item: `${item}-other` });
      expect(other.quote).not.toBe(first.quote);
      expect(count('quote') - before).toBe(2);
    });

    it('keys a message by the id a messageId option reads', async () => {
      const before = count('refund');
      const refundRef = randomUUID();
      const first = await send('refund', { refundRef, note: 'a' });
      expect(await send('refund', { refundRef, note: 'a' })).toEqual(first);
      expect(count('refund') - before).toBe(1);
    });

    it('refuses an id reused with another payload, without running the handler', async () => {
      const id = randomUUID();
      await send('charge', { id, amount: 5 });
      const before = count('charge');
      const error = await sendError('charge', { id, amount: 500 });
      expect(error).toMatchObject({
        status: 422,
        type: expect.stringMatching(/idempotency-key-reused\.md$/),
      });
      expect(count('charge')).toBe(before);
    });

    it('releases a message whose handler failed, so its redelivery runs again', async () => {
      const charge = { id: randomUUID(), amount: 9 };
      failOnce.add(charge.id);
      const before = count('charge');
      expect(await sendError('charge', charge)).toMatchObject({ message: 'card declined' });
      const retried = await send('charge', charge);
      expect(retried).toMatchObject({ amount: 9 });
      expect(await send('charge', charge)).toEqual(retried);
      expect(count('charge') - before).toBe(2);
    });

    it('answers a delivery that arrives while the first still runs with a 409 problem', async () => {
      const message = { id: randomUUID(), amount: 1 };
      const before = count('slow');
      const first = send('slow', message);
      await sleep(100);
      const error = await sendError('slow', message);
      expect(error).toMatchObject({
        status: 409,
        type: expect.stringMatching(/request-in-progress\.md$/),
      });
      const reply = await first;
      expect(await send('slow', message)).toEqual(reply);
      expect(count('slow') - before).toBe(1);
    });

    it('replays every value of a streamed reply, in order', async () => {
      const before = count('countdown');
      const message = { id: randomUUID() };
      const first = await lastValueFrom(client.send('countdown', message).pipe(toArray()));
      const second = await lastValueFrom(client.send('countdown', message).pipe(toArray()));
      expect(first).toHaveLength(3);
      expect(second).toEqual(first);
      expect(count('countdown') - before).toBe(1);
    });

    it('replays a handler that returned nothing as nothing', async () => {
      const message = { id: randomUUID() };
      const before = count('ping');
      const first = await lastValueFrom(client.send('ping', message).pipe(toArray()));
      const second = await lastValueFrom(client.send('ping', message).pipe(toArray()));
      expect(second).toEqual(first);
      expect(count('ping') - before).toBe(1);
    });

    it('hands a message handler its lease through @Lease(), and replays its reply', async () => {
      const message = { id: randomUUID() };
      const first = await send('fenced', message);
      expect(first.held).toBe(true);
      expect(Number.isSafeInteger(first.token)).toBe(true);
      expect(first.token).toBeGreaterThan(0);
      const second = await send('fenced', { id: randomUUID() });
      expect(second.token).not.toBe(first.token);
      expect(await send('fenced', message)).toEqual(first);
    });

    it('leaves a handler without @Idempotent() alone', async () => {
      const message = { id: randomUUID() };
      const first = await send('unprotected', message);
      const second = await send('unprotected', message);
      expect(second.run).toBe((first.run as number) + 1);
    });

    it('handles a redelivered @EventPattern once, in each of its handlers', async () => {
      const event = { id: randomUUID(), item: 'lamp' };
      const before = count('order.created');
      const auditBefore = count('order.created/audit');
      await firstValueFrom(client.emit('order.created', event), { defaultValue: undefined });
      await settle();
      await firstValueFrom(client.emit('order.created', event), { defaultValue: undefined });
      await firstValueFrom(client.emit('order.created', event), { defaultValue: undefined });
      await settle();
      expect(count('order.created') - before).toBe(1);
      expect(count('order.created/audit') - auditBefore).toBe(1);
      expect(
        received
          .get('order.created')
          ?.filter((data) => data && (data as { id: string }).id === event.id),
      ).toHaveLength(1);
    });

    it('handles a burst of the same event once, and different events each', async () => {
      const event = { id: randomUUID(), item: 'burst' };
      const before = count('order.created');
      await Promise.all(
        Array.from({ length: 5 }, () =>
          firstValueFrom(client.emit('order.created', event), { defaultValue: undefined }),
        ),
      );
      await firstValueFrom(client.emit('order.created', { ...event, id: randomUUID() }), {
        defaultValue: undefined,
      });
      await settle();
      expect(count('order.created') - before).toBe(2);
    });

    it('handles a redelivered event again where its handling failed, and only there', async () => {
      const event = { id: randomUUID(), item: 'retry' };
      failOnce.add(event.id);
      const before = count('order.created');
      const auditBefore = count('order.created/audit');
      await firstValueFrom(client.emit('order.created', event), { defaultValue: undefined });
      await settle();
      await firstValueFrom(client.emit('order.created', event), { defaultValue: undefined });
      await settle();
      await firstValueFrom(client.emit('order.created', event), { defaultValue: undefined });
      await settle();
      expect(count('order.created') - before).toBe(2);
      // Nest unsubscribed the audit handler when its sibling failed; its run still counts.
      expect(count('order.created/audit') - auditBefore).toBe(1);
    });
  },
);

/** Also registered globally (APP_INTERCEPTOR): it must neither stack with `@Idempotent()` nor reach undecorated handlers. */
describe('Nest microservice over tcp: the key in packet metadata, global registration', () => {
  let server: INestMicroservice;
  let client: ClientProxy;
  let key: string | undefined;

  beforeAll(async () => {
    const port = await findFreePort();
    const options: ClientOptions = {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
    };

    @Module({
      imports: [TollgateModule.forRoot({ store: new MemoryStore() })],
      controllers: [PaymentsController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor }],
    })
    class MetadataModule {}

    server = await NestFactory.createMicroservice(MetadataModule, { ...options, logger: false });
    await server.listen();
    client = ClientProxyFactory.create(options);
    // Nest 12 carries out-of-band values with each packet: the key travels like an HTTP header.
    client.setOnDispatchHook((packet) => {
      if (key !== undefined) packet.metadata = { 'idempotency-key': key };
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('keys a message by an idempotency-key metadata entry before any payload id', async () => {
    const before = count('charge');
    const charge = { id: randomUUID(), amount: 3 };
    key = randomUUID();
    const first = await firstValueFrom(client.send('charge', charge));
    expect(await firstValueFrom(client.send('charge', charge))).toEqual(first);
    // The same payload id under another key is another message: the key decides, not the payload.
    key = randomUUID();
    const second = await firstValueFrom(client.send('charge', charge));
    expect(second).not.toEqual(first);
    expect(count('charge') - before).toBe(2);
    key = undefined;
  });

  it('leaves handlers without @Idempotent() alone when registered globally', async () => {
    const message = { id: randomUUID() };
    const first = await firstValueFrom(client.send<{ run: number }>('unprotected', message));
    const second = await firstValueFrom(client.send<{ run: number }>('unprotected', message));
    expect(second.run).toBe(first.run + 1);
  });
});
