/**
 * One ordered consumer of a RabbitMQ queue among many processes: `import { exclusiveConsumer }
 * from 'tollgate/amqp'`. It works with amqplib's connections and channels by their shape alone:
 * Tollgate does not import amqplib.
 */
export { exclusiveConsumer } from './amqp/exclusive-consumer.js';
export type {
  AmqpChannel,
  AmqpConnection,
  AmqpHandlerContext,
  AmqpMessage,
  ExclusiveConsumer,
  ExclusiveConsumerEvent,
  ExclusiveConsumerOptions,
} from './amqp/types.js';
export type { OnceOptions } from './core/idempotency/once.js';
