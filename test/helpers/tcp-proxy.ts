/**
 * A loopback TCP proxy that sits between a client and a real server (usually redis-server) and
 * injects network faults on demand: latency, a silent link, connection resets, refused connects.
 *
 * pause() in redis-server.ts models a server that stops answering; this models the network between
 * the two, which fails differently: resets and refused connects reach the client as errors at once,
 * and a blackhole leaves the server running and every socket open.
 *
 * Everything it owns is a socket or a timer of this process, so nothing outlives a crashed run and,
 * unlike redis-server.ts, it needs no exit hook. The listener, the sockets and the timers are
 * unref'd: a proxy a test forgot to close must not keep the process alive, and the client's own
 * socket keeps it alive while a test waits for bytes that pass through here.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface FaultProxy {
  /** Always `127.0.0.1`: the proxy listens on loopback only. */
  readonly host: string;
  /** The proxy's own port. It stays the same across refuse()/heal(), so clients keep their config. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`, to hand to a client instead of the server's own url. */
  readonly url: string;
  /** Adds `ms` of latency to every chunk in both directions (0 removes it). Order of bytes is preserved. */
  delay(ms: number): void;
  /**
   * Stops forwarding in both directions on every current and new connection; bytes sent meanwhile
   * are dropped (not buffered), connections stay open and silent. New connections are accepted but
   * silent. Real TCP would retransmit rather than lose bytes, so a connection that dropped bytes is
   * out of step after heal() (a request that never arrived gets no reply): clients must reconnect.
   */
  blackhole(): void;
  /**
   * Destroys every current connection with a TCP RST (socket.resetAndDestroy() on both sides), so
   * both peers see ECONNRESET rather than an orderly close. New connections are still accepted.
   */
  reset(): void;
  /**
   * Refuses new connections (the listener is closed, so connects get ECONNREFUSED) and resets
   * current ones, until heal(): a server that is down, as the client sees it.
   */
  refuse(): void;
  /**
   * Back to plain forwarding (ends blackhole/refuse; delay stays as set). After refuse() it listens
   * again on the same port. The bind happens on the next tick, so before any connect this process
   * starts after heal(); if another socket holds the port meanwhile it is retried for about a
   * second, and dropFor() and close() report a final failure.
   */
  heal(): void;
  /**
   * A connection drop of `ms`: reset() now, refuse() for `ms`, then heal(). Resolves once the proxy
   * listens again (or at once if close() came first); rejects if the port could not be bound again.
   */
  dropFor(ms: number): Promise<void>;
  /**
   * Arms a drop at an exact moment: the first chunk a client sends that `matches` is swallowed (it
   * never reaches the server), and the connection drops then for `ms`, as dropFor() does. Models
   * "the connection fails just as this command is sent", which timing alone cannot hit. Resolves
   * once the drop is over and the proxy listens again.
   */
  dropOnRequest(matches: (chunk: Buffer) => boolean, ms: number): Promise<void>;
  /** Number of currently open client connections. */
  readonly connections: number;
  /** Closes the listener and destroys all connections. Rejects if a heal() could not listen again. */
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
// After refuse(), another socket may briefly hold the port (an outgoing connection can be given it
// as its local port); heal() retries the bind this often, this far apart, before it gives up.
const REBIND_ATTEMPTS = 20;
const REBIND_INTERVAL_MS = 50;

/** A marker in a queue: the sending peer closed its side (FIN), to pass on in order after its bytes. */
const END = Symbol('end');

interface Pending {
  due: number;
  data: Buffer | typeof END;
}

/** One direction of one connection: bytes read from `from`, waiting until due to be written to `to`. */
class Lane {
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;
  /** Set when `from` closed: end `to` once the queue is empty. */
  private closeWhenDrained = false;

  constructor(
    private readonly to: Socket,
    private readonly proxy: { readonly latency: number; readonly silent: boolean },
  ) {}

  push(data: Buffer | typeof END): void {
    // Dropped at once too (not only on delivery), so a blackhole holds no memory however long it lasts.
    if (this.proxy.silent) return;
    // Never earlier than the chunk before: lowering the delay must not reorder bytes.
    const due = Math.max(Date.now() + this.proxy.latency, this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, data });
    this.flush();
  }

  /** `from` is gone: pass on what is queued, then close `to`. */
  finish(): void {
    this.closeWhenDrained = true;
    this.flush();
  }

  /** Forgets everything queued (the connection is being torn down). */
  clear(): void {
    this.queue.length = 0;
    this.closeWhenDrained = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    if (this.timer !== undefined) return;
    const now = Date.now();
    while (this.queue.length > 0) {
      const head = this.queue[0] as Pending;
      if (head.due > now) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.flush();
        }, head.due - now);
        this.timer.unref();
        return;
      }
      this.queue.shift();
      // A blackhole also swallows what was already on its way when it began.
      if (this.proxy.silent || this.to.destroyed) continue;
      if (head.data === END) this.to.end();
      else this.to.write(head.data);
    }
    if (this.closeWhenDrained && !this.to.destroyed) {
      this.closeWhenDrained = false;
      // end() lets written bytes go out first; destroy() then releases the socket even if its peer
      // never closes its own side.
      this.to.end(() => this.to.destroy());
    }
  }
}

/** A client connection and the connection to the target opened for it. */
class Pair {
  private readonly toUpstream: Lane;
  private readonly toClient: Lane;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    proxy: { readonly latency: number; readonly silent: boolean },
    onClosed: (pair: Pair) => void,
    /** Sees every chunk the client sends; true swallows it. */
    private readonly inspect: (chunk: Buffer) => boolean = () => false,
  ) {
    this.toUpstream = new Lane(upstream, proxy);
    this.toClient = new Lane(client, proxy);
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      socket.unref();
    }
    this.wire(client, upstream, this.toUpstream, this.inspect);
    this.wire(upstream, client, this.toClient);
    let open = 2;
    const closed = (): void => {
      open -= 1;
      if (open === 0) onClosed(this);
    };
    client.once('close', closed);
    upstream.once('close', closed);
  }

  private wire(
    from: Socket,
    to: Socket,
    lane: Lane,
    inspect: (chunk: Buffer) => boolean = () => false,
  ): void {
    // Any error is followed by 'close', handled below; without a listener it would crash the run.
    from.on('error', () => undefined);
    from.on('data', (chunk: Buffer) => {
      if (!inspect(chunk)) lane.push(chunk);
    });
    from.on('end', () => lane.push(END));
    from.on('close', (hadError: boolean) => {
      if (to.destroyed) return;
      if (hadError) {
        // A reset or a failed connect on one side reaches the other side as a reset too, as it
        // would through a router; what was queued for it is lost, as it would be.
        this.clear();
        resetSocket(to);
      } else {
        lane.finish();
      }
    });
  }

  /** Both sides get a TCP RST. */
  reset(): void {
    this.clear();
    resetSocket(this.client);
    resetSocket(this.upstream);
  }

  destroy(): void {
    this.clear();
    this.client.destroy();
    this.upstream.destroy();
  }

  private clear(): void {
    this.toUpstream.clear();
    this.toClient.clear();
  }
}

function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy() on a socket still connecting waits for 'connect' to send the RST; a connect
  // that never completes would keep the socket, so just drop it.
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

class TcpFaultProxy implements FaultProxy {
  readonly host = HOST;
  // Known once start() has bound the first listener; never changes afterwards.
  port = 0;
  url = '';
  latency = 0;
  silent = false;
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  private closed = false;
  /** Bumped by every refuse() and heal(), so a bind that finishes late knows it is stale. */
  private generation = 0;
  /** Settles when the current (re)bind has finished; `listenError` says whether it failed. */
  private listening: Promise<void> = Promise.resolve();
  private listenError: Error | undefined;
  private readonly drops = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(private readonly target: { host: string; port: number }) {}

  /** Binds the first listener: on `port`, or on one the kernel picks if it is 0. */
  async start(port: number): Promise<void> {
    const server = await listen(port, this.accept);
    const address = server.address();
    if (address === null || typeof address === 'string') {
      server.close();
      throw new Error('could not read the port of the fault proxy');
    }
    this.port = address.port;
    this.url = `redis://${HOST}:${this.port}`;
    this.server = server;
  }

  /** The handler of every listener this proxy opens. */
  readonly accept = (client: Socket): void => {
    if (this.closed || this.refusing) {
      // Accepted in the instant before the listener closed: the client sees the reset it would
      // have seen had it connected a moment earlier.
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({
      host: this.target.host,
      port: this.target.port,
      allowHalfOpen: true,
    });
    this.pairs.add(
      new Pair(client, upstream, this, (pair) => this.pairs.delete(pair), this.inspect),
    );
  };

  /** The armed dropOnRequest(), if any. */
  private trigger:
    | { matches: (chunk: Buffer) => boolean; ms: number; done: (drop: Promise<void>) => void }
    | undefined;

  private readonly inspect = (chunk: Buffer): boolean => {
    const trigger = this.trigger;
    if (trigger === undefined || this.closed || !trigger.matches(chunk)) return false;
    this.trigger = undefined;
    // After this chunk's handler returns: the reset must not run inside the socket's own event.
    setImmediate(() => trigger.done(this.dropFor(trigger.ms)));
    return true;
  };

  dropOnRequest(matches: (chunk: Buffer) => boolean, ms: number): Promise<void> {
    this.assertOpen();
    return new Promise<Promise<void>>((resolve) => {
      this.trigger = { matches, ms, done: resolve };
    }).then((drop) => drop);
  }

  get connections(): number {
    let open = 0;
    for (const pair of this.pairs) if (!pair.client.destroyed) open += 1;
    return open;
  }

  delay(ms: number): void {
    this.assertOpen();
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be >= 0 ms, got ${ms}`);
    this.latency = ms;
  }

  blackhole(): void {
    this.assertOpen();
    this.silent = true;
  }

  reset(): void {
    this.assertOpen();
    for (const pair of this.pairs) pair.reset();
  }

  refuse(): void {
    this.assertOpen();
    if (!this.refusing) {
      this.refusing = true;
      this.generation += 1;
      this.server?.close();
      this.server = undefined;
    }
    this.reset();
  }

  heal(): void {
    this.assertOpen();
    this.silent = false;
    if (!this.refusing) return;
    this.refusing = false;
    this.generation += 1;
    this.listenError = undefined;
    this.listening = this.rebind(this.generation);
  }

  async dropFor(ms: number): Promise<void> {
    this.refuse();
    await new Promise<void>((resolve) => {
      const drop = {
        resolve,
        timer: setTimeout(() => {
          this.drops.delete(drop);
          if (!this.closed) this.heal();
          resolve();
        }, ms),
      };
      this.drops.add(drop);
    });
    await this.listening;
    if (this.listenError !== undefined) throw this.listenError;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const drop of this.drops) {
      clearTimeout(drop.timer);
      drop.resolve();
    }
    this.drops.clear();
    for (const pair of this.pairs) pair.destroy();
    // A rebind in flight ends in a listener that must be closed as well.
    await this.listening;
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.listenError !== undefined) throw this.listenError;
  }

  private async rebind(generation: number): Promise<void> {
    const stale = (): boolean => this.closed || generation !== this.generation;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const server = await listen(this.port, this.accept);
        // close() or refuse() came while the bind was in flight.
        if (stale()) server.close();
        else this.server = server;
        return;
      } catch (error) {
        if (stale()) return;
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' || attempt >= REBIND_ATTEMPTS) {
          this.listenError = new Error(
            `fault proxy could not listen again on ${HOST}:${this.port}: ${(error as Error).message}`,
          );
          return;
        }
        // Not unref'd: dropFor() waits for this, and the wait is bounded.
        await new Promise((resolve) => setTimeout(resolve, REBIND_INTERVAL_MS));
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`fault proxy on ${HOST}:${this.port} is closed`);
  }
}

function listen(port: number, onConnection: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true }, onConnection);
    server.once('error', reject);
    server.listen({ port, host: HOST }, () => {
      server.off('error', reject);
      // Errors after listen() (rare: accept failures) must not crash the run.
      server.on('error', () => undefined);
      server.unref();
      resolve(server);
    });
  });
}

/**
 * Starts a proxy on 127.0.0.1 that forwards every connection to `target`. `options.port` picks the
 * proxy's port; by default the kernel assigns a free one.
 */
export async function startFaultProxy(
  target: { host: string; port: number },
  options: { port?: number } = {},
): Promise<FaultProxy> {
  const proxy = new TcpFaultProxy(target);
  await proxy.start(options.port ?? 0);
  return proxy;
}
