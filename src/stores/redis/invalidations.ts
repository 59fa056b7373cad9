import { Cluster, type Redis } from 'ioredis';

import type { RecordInvalidations } from '../../core/store.js';
import { FORGOTTEN_CHANNEL } from './scripts.js';

/**
 * How often the subscription confirms itself with a `PING`. One unanswered by the next beat makes
 * the feed untrusted (epoch 0) until a later one is answered: a silent connection, or a process
 * whose event loop stalled, may be sitting on announcements it has not read.
 */
export const HEARTBEAT_MS = 1_000;

/**
 * The announcements of every process's deleting scripts (`PUBLISH` inside the script, so a record
 * is never removed without its announcement), heard on a connection of its own: a subscribed
 * connection can send nothing else. Redis delivers a connection's messages and replies in order,
 * so a `PING` answered means every announcement published before it was read.
 */
export class RedisInvalidations implements RecordInvalidations {
  private current = 0;
  private stretches = 0;
  private subscribed = false;
  private pinging = false;
  private readonly listeners: Array<(key: string) => void> = [];
  private readonly subscriber: Redis | Cluster;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(client: Redis | Cluster) {
    this.subscriber = client instanceof Cluster ? client.duplicate() : client.duplicate();
    // Trouble surfaces as an untrusted feed, never as an unhandled 'error' event.
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('close', () => this.lost());
    this.subscriber.on('ready', () => void this.subscribe());
    this.subscriber.on('message', (channel: string, key: string) => {
      if (channel !== FORGOTTEN_CHANNEL) return;
      for (const listener of this.listeners) listener(key);
    });
    // A client made with `lazyConnect` hands the option on: connect it now.
    if (this.subscriber.status === 'wait') this.subscriber.connect().catch(() => undefined);
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get epoch(): number {
    return this.current;
  }

  listen(listener: (key: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * A removal this process made (its script answered, or failed and may have run): its listeners
   * hear of it now. Its announcement reaches this process too, but on the subscription, which may
   * be read after the reply that said it was done: a caller that acts on that reply must not be
   * answered from a cache.
   */
  removed(key: string): void {
    for (const listener of this.listeners) listener(key);
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.lost();
    this.subscriber.disconnect();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(FORGOTTEN_CHANNEL);
      this.subscribed = true;
      this.trust();
    } catch {
      this.lost();
    }
  }

  private beat(): void {
    if (this.pinging) {
      // The last beat is still unanswered: what was published since may not have been read.
      this.current = 0;
      return;
    }
    if (!this.subscribed) return;
    this.pinging = true;
    this.subscriber.ping().then(
      () => {
        this.pinging = false;
        if (this.subscribed && this.current === 0) this.trust();
      },
      () => {
        this.pinging = false;
        this.current = 0;
      },
    );
  }

  /** A new stretch: entries made before it are never used again. */
  private trust(): void {
    this.current = ++this.stretches;
  }

  private lost(): void {
    this.subscribed = false;
    this.current = 0;
  }
}
