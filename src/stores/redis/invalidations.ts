import { Cluster, type Redis } from 'ioredis';

import type { RecordInvalidations } from '../../core/store.js';
import { FORGOTTEN_CHANNEL } from './scripts.js';

/**
 * How often the subscription confirms itself with a `PING`. One unanswered by the next beat makes
 * the feed untrusted (epoch 0) until a later one is answered: a silent connection, or a process
 * whose event loop stalled, may be sitting on announcements it has not read.
 */
export const HEARTBEAT_MS = 1_000;

/** How soon a Cluster subscription that ended is opened again. */
const REOPEN_MS = 100;

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
  private closed = false;
  private readonly listeners: Array<(key: string) => void> = [];
  private subscriber: Redis | undefined;
  private readonly heartbeat: NodeJS.Timeout;

  /**
   * On Cluster the subscription is a plain connection to one node (`PUBLISH` reaches every node),
   * made here rather than by a duplicated `Cluster`: that one's subscription is a connection of its
   * own that ioredis replaces, unseen, when it drops (no 'close' reaches its user, and announcements
   * made meanwhile are lost), and its `PING` goes to another node's connection, so it confirms
   * nothing about the subscription. Here the connection that is pinged is the one subscribed, and
   * one that ends is replaced by a new one, to any node, in a new stretch.
   */
  constructor(private readonly client: Redis | Cluster) {
    if (!(client instanceof Cluster)) this.open();
    else if (client.status === 'ready') this.open();
    else client.once('ready', () => this.open());
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private open(): void {
    if (this.closed) return;
    const { client } = this;
    let subscriber: Redis;
    if (client instanceof Cluster) {
      const nodes = client.nodes('all');
      const node = nodes[Math.floor(Math.random() * nodes.length)];
      if (node === undefined) {
        setTimeout(() => this.open(), REOPEN_MS).unref();
        return;
      }
      subscriber = node.duplicate();
      // A node's connection is not reconnected (the Cluster client refreshes its nodes instead):
      // once it ends, another one is opened, to whichever node is there then.
      subscriber.once('end', () => {
        if (this.subscriber !== subscriber) return;
        this.lost();
        setTimeout(() => this.open(), REOPEN_MS).unref();
      });
    } else {
      subscriber = client.duplicate();
    }
    this.subscriber = subscriber;
    // Trouble surfaces as an untrusted feed, never as an unhandled 'error' event.
    subscriber.on('error', () => undefined);
    subscriber.on('close', () => {
      if (this.subscriber === subscriber) this.lost();
    });
    subscriber.on('ready', () => void this.subscribe(subscriber));
    subscriber.on('message', (channel: string, key: string) => {
      if (channel !== FORGOTTEN_CHANNEL) return;
      for (const listener of this.listeners) listener(key);
    });
    // A client made with `lazyConnect` hands the option on: connect it now.
    if (subscriber.status === 'wait') subscriber.connect().catch(() => undefined);
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
    this.closed = true;
    clearInterval(this.heartbeat);
    this.lost();
    this.subscriber?.disconnect();
  }

  private async subscribe(subscriber: Redis): Promise<void> {
    try {
      await subscriber.subscribe(FORGOTTEN_CHANNEL);
      if (this.subscriber !== subscriber || this.closed) return;
      this.subscribed = true;
      this.trust();
    } catch {
      if (this.subscriber === subscriber) this.lost();
    }
  }

  private beat(): void {
    if (this.pinging) {
      // The last beat is still unanswered: what was published since may not have been read.
      this.current = 0;
      return;
    }
    const subscriber = this.subscriber;
    if (!this.subscribed || subscriber === undefined) return;
    this.pinging = true;
    subscriber.ping().then(
      () => {
        this.pinging = false;
        if (this.subscribed && this.subscriber === subscriber && this.current === 0) this.trust();
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
