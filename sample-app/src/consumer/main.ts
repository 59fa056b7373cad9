import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';
import { connect } from 'amqplib';

import { RedisStore, validateExclusiveLeaseOptions, waitForStore, type Duration } from 'tollgate';
import { ConsumerModule } from './consumer.module.js';

// `npm run start:consumer`: start several; the one holding the lease consumes, the others stand by.
const log = (line: string): void => console.log(`consumer ${process.pid}: ${line}`);
function fail(message: string): never {
  console.error(`consumer: ${message}`);
  process.exit(2);
}

const amqpUrl = process.env.AMQP_URL || undefined;
const redisUrl = process.env.REDIS_URL || undefined;
const missing = [amqpUrl ? [] : ['AMQP_URL'], redisUrl ? [] : ['REDIS_URL']].flat();
if (missing.length > 0) {
  fail(
    `set ${missing.join(' and ')} (the consumer reads its queue from RabbitMQ; its lease, its records and its effects live in Redis)`,
  );
}
const lease = (process.env.TOLLGATE_LEASE || '30s') as Duration;
const workMs = Number(process.env.WORK_MS || 0);
try {
  validateExclusiveLeaseOptions({ ttl: lease });
} catch (error) {
  fail(`TOLLGATE_LEASE: ${(error as Error).message}`);
}
if (!Number.isInteger(workMs) || workMs < 0) fail('WORK_MS must be a whole number of ms');

/**
 * Heartbeats of half the lease unless the URL sets them: the broker then drops the connection of
 * a holder that froze, which returns its unacknowledged messages to the queue for the next one.
 */
function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) {
    const [, amount = '30', unit = 's'] = /^(\d+)\s*(ms|s|m|h)?$/.exec(String(lease)) ?? [];
    const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
    const seconds = Math.max(1, Math.floor((Number(amount) * unitMs) / 2_000));
    parsed.searchParams.set('heartbeat', String(seconds));
  }
  return parsed.toString();
}

const store = new RedisStore({ url: redisUrl as string });
try {
  await waitForStore(store, { timeout: '10s', required: true });
} catch (error) {
  fail((error as Error).message);
}
let connection: Awaited<ReturnType<typeof connect>>;
try {
  connection = await connect(withHeartbeat(amqpUrl as string));
} catch (error) {
  await store.close();
  fail(`RabbitMQ unreachable at AMQP_URL: ${(error as Error).message}`);
}
let stopping = false;
// A broken connection stops this process; its lease lapses and a standby takes over.
connection.on('error', (error: Error) => log(`AMQP connection error: ${error.message}`));
connection.on('close', () => {
  if (!stopping) {
    log('AMQP connection closed');
    process.exit(1);
  }
});

const app = await NestFactory.createApplicationContext(
  ConsumerModule.forRoot(store, connection, { lease, workMs, log }),
  { logger: ['error', 'warn'] },
);
// SIGTERM/SIGINT: the consumer is cancelled (its unacknowledged messages go back to the queue),
// and the lease is released so a standby leads at its next try.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopping = true;
    void (async () => {
      await app.close();
      await connection.close().catch(() => undefined);
      await store.close();
      log('stopped');
    })();
  });
}
