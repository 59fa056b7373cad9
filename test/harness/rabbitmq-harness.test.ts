import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';

import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startRabbitMq, type RabbitMqServer } from '../helpers/rabbitmq-server.js';

/** Whether something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startRabbitMq', () => {
  let broker: RabbitMqServer;
  let startMs: number;

  beforeAll(async () => {
    const started = performance.now();
    broker = await startRabbitMq();
    startMs = Math.round(performance.now() - started);
    console.log(`rabbitmq-server ready in ${startMs} ms`);
  });

  afterAll(async () => {
    await broker?.stop();
  });

  it('runs its own node on a loopback AMQP port, with no plugin enabled', () => {
    expect(broker.url).toBe(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    expect(broker.node).toBe(`tg-${broker.port}@localhost`);
    expect(broker.output()).toContain(`node           : ${broker.node}`);
    expect(broker.output()).not.toMatch(/rabbitmq_management/);
  });

  it('routes a message through a durable queue with manual acks', async () => {
    const connection = await connect(broker.url);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue('harness', { durable: true });
      channel.sendToQueue('harness', Buffer.from('hello'), { messageId: 'm-1', persistent: true });
      const message = await new Promise<{ content: string; id: unknown }>((resolve) => {
        void channel.consume('harness', (delivered) => {
          if (!delivered) return;
          channel.ack(delivered);
          resolve({ content: delivered.content.toString(), id: delivered.properties.messageId });
        });
      });
      expect(message).toEqual({ content: 'hello', id: 'm-1' });
    } finally {
      await connection.close();
    }
  });

  it('stop() kills the broker and removes its directory', async () => {
    const other = await startRabbitMq();
    const { dir } = other;
    expect(existsSync(dir)).toBe(true);
    await other.stop();
    expect(await listening(other.port)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    await other.stop();
  });
});
