import type { Cluster, Redis } from 'ioredis';

interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Hands out the client with its socket corked until the end of this turn of the event loop: every
 * command sent while requests are being read in this turn leaves in one socket write, and Redis
 * reads them in one go, as ioredis's auto-pipelining would, but without its pipeline object per
 * batch and without holding a batch until the previous one is answered. A Cluster client has a
 * socket per node and auto-pipelines instead.
 */
export class TurnBatcher {
  /** The stream corked now, uncorked by the `setImmediate` that the first command scheduled. */
  private corked: Corkable | undefined;
  private readonly uncork = (): void => {
    const stream = this.corked;
    this.corked = undefined;
    stream?.uncork();
  };

  constructor(private readonly client: Redis | Cluster) {}

  batched(): Redis | Cluster {
    if (this.corked !== undefined) return this.client;
    const stream = (this.client as { stream?: Corkable }).stream;
    if (stream && this.client.status === 'ready') {
      stream.cork();
      this.corked = stream;
      setImmediate(this.uncork);
    }
    return this.client;
  }
}
