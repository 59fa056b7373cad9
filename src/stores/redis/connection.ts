import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

import { withoutPassword } from '../../core/location.js';

/**
 * Options for a connection the store opens itself. The request path must never hang on a dead or
 * silent Redis, nor run a write late, so these defaults apply unless overridden: no offline queue
 * (fail at once while disconnected), and no silent re-send of commands that were sent but never
 * answered. There is no per-command timeout (ioredis's `commandTimeout`): every call the engines
 * make already runs under the route's own deadline (`storeTimeoutMs`), and ioredis would arm and
 * clear a second, redundant timer for every command.
 * `close()` bounds its QUIT itself. ioredis's auto-pipelining is off on a single connection: the
 * store batches its own writes there (see batching.ts), which costs less per command and never
 * waits for one batch's replies before sending the next. On Cluster it stays on.
 */
export const SAFE_CLIENT_DEFAULTS = {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  connectTimeout: 2_000,
  enableAutoPipelining: false,
} as const satisfies RedisOptions;

export type RedisStoreOptions =
  /** A client the application already has (standalone, Sentinel or Cluster). It is left open on close. */
  | { client: Redis | Cluster; logger?: StoreLogger }
  /** A `redis://` or `rediss://` URL; the store opens and closes the connection. */
  | { url: string; options?: RedisOptions; logger?: StoreLogger }
  /** ioredis connection options (standalone or Sentinel); the store opens and closes the connection. */
  | { connection: RedisOptions; logger?: StoreLogger }
  /** Cluster start-up nodes; the store opens and closes the connection. */
  | { cluster: ClusterNode[]; options?: ClusterOptions; logger?: StoreLogger };

export interface StoreLogger {
  warn(message: string): void;
}

/** The store's client, and whether the store opened it (and so must close it). */
export interface Connection {
  readonly client: Redis | Cluster;
  readonly owned: boolean;
  /** Where it connects, with any password hidden, for log lines. */
  readonly location: string;
  /** The last connection error since the client was last ready. */
  lastError(): Error | undefined;
}

export function openConnection(options: RedisStoreOptions): Connection {
  const location = describeLocation(options);
  if ('client' in options) {
    warnAboutUnsafeClient(options.client, options.logger ?? console);
    // The application's client keeps its own error handling: listening for errors here would
    // silence ioredis's report of an unhandled one.
    return { client: options.client, owned: false, location, lastError: () => undefined };
  }
  let client: Redis | Cluster;
  if ('url' in options) {
    client = new Redis(options.url, { ...SAFE_CLIENT_DEFAULTS, ...options.options });
  } else if ('connection' in options) {
    client = new Redis({ ...SAFE_CLIENT_DEFAULTS, ...options.connection });
  } else {
    const { connectTimeout, autoResendUnfulfilledCommands } = SAFE_CLIENT_DEFAULTS;
    client = new Cluster(options.cluster, {
      enableOfflineQueue: false,
      // A socket per node, which the store does not batch itself (see batching.ts).
      enableAutoPipelining: true,
      ...options.options,
      redisOptions: {
        connectTimeout,
        autoResendUnfulfilledCommands,
        ...options.options?.redisOptions,
      },
    });
  }
  // A client that errors with no listener crashes the process; connection trouble surfaces
  // through each command's rejection instead, which the engines turn into the route's policy.
  // The last error is kept so that start-up can say why the store cannot be reached.
  let lastError: Error | undefined;
  client.on('error', (error: Error) => {
    lastError = error;
  });
  client.on('ready', () => {
    lastError = undefined;
  });
  return { client, owned: true, location, lastError: () => lastError };
}

/** Where the options point, as `redis://host:port/db` (no password), for log lines. */
function describeLocation(options: RedisStoreOptions): string {
  if ('url' in options) {
    // ioredis connects to its default for a missing URL (an unset environment variable).
    return options.url ? hidePassword(options.url) : 'redis://127.0.0.1:6379';
  }
  if ('cluster' in options) return `cluster ${options.cluster.map(nodeAddress).join(',')}`;
  const connection =
    'connection' in options ? options.connection : (options.client.options as RedisOptions);
  if ('client' in options && options.client instanceof Cluster) {
    const { startupNodes } = options.client as unknown as { startupNodes: ClusterNode[] };
    return `cluster ${startupNodes.map(nodeAddress).join(',')}`;
  }
  if (connection.sentinels?.length) {
    return `sentinel ${connection.name ?? 'mymaster'} via ${connection.sentinels.map(nodeAddress).join(',')}`;
  }
  if (connection.path) return `redis+unix://${connection.path}`;
  const scheme = connection.tls ? 'rediss' : 'redis';
  return `${scheme}://${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}/${connection.db ?? 0}`;
}

/**
 * A connection URL for log lines: `redis://user:***@host:port/db`. The password (wherever the URL
 * carries it, the query included) never appears; a URL that cannot be read is not shown at all.
 */
export function hidePassword(url: string): string {
  let parsed: URL;
  try {
    // ioredis also takes `//host` and `host:port` without a scheme.
    parsed = new URL(
      /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `redis://${url.replace(/^\/\//, '')}`,
    );
  } catch {
    return 'redis (an unreadable URL)';
  }
  return withoutPassword(parsed);
}

function nodeAddress(node: ClusterNode | Partial<{ host: string; port: number }>): string {
  if (typeof node === 'number') return `127.0.0.1:${node}`;
  if (typeof node === 'string') return hidePassword(node);
  return `${node.host ?? '127.0.0.1'}:${node.port ?? 6379}`;
}

export async function whenReady(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') return;
  // A client created with `lazyConnect` waits for a first command: being asked whether it is
  // ready is that moment. A failed attempt retries as the client's own strategy says.
  if (client.status === 'wait') void client.connect().catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      client.off('ready', onReady);
      reject(new Error('the Redis connection ended before it was ready'));
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

/** How long closing waits for the server to answer QUIT before it disconnects. */
const CLOSE_TIMEOUT_MS = 1_000;

/**
 * Closes a connection the store opened: QUIT, so commands already sent are answered first, but
 * for at most `CLOSE_TIMEOUT_MS`; a silent or vanished server is then simply disconnected, and
 * an app's shutdown never waits on it. A client the application passed in is left open.
 */
export async function closeConnection({ client, owned }: Connection): Promise<void> {
  if (!owned) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(resolve, CLOSE_TIMEOUT_MS, 'timeout');
  });
  try {
    const outcome = await Promise.race([client.quit(), timedOut]);
    if (outcome === 'timeout') closeSockets(client);
  } catch {
    // Already disconnected: nothing left to close.
    closeSockets(client);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Disconnects at once. ioredis's `disconnect()` only half-closes a socket (`end()`), which a
 * silent server never completes: the socket would stay open and keep the process alive, so
 * each one is destroyed as well.
 */
function closeSockets(client: Redis | Cluster): void {
  const connections = client instanceof Cluster ? client.nodes() : [client];
  client.disconnect();
  for (const connection of connections) {
    (connection as { stream?: { destroy(): void } }).stream?.destroy();
  }
}

/**
 * A client the application passes in keeps its own settings. An offline queue there means a
 * command issued while Redis is away may run minutes later, after the request gave up: say so.
 */
function warnAboutUnsafeClient(client: Redis | Cluster, logger: StoreLogger): void {
  const options = (
    client as {
      options?: { enableOfflineQueue?: boolean; autoResendUnfulfilledCommands?: boolean };
    }
  ).options;
  if (options?.enableOfflineQueue !== false) {
    logger.warn(
      'tollgate: the Redis client passed to RedisStore queues commands while disconnected (enableOfflineQueue); ' +
        'a command may then run after its request gave up. Create the client with enableOfflineQueue: false ' +
        '(see SAFE_CLIENT_DEFAULTS) or pass a url and let the store open the connection.',
    );
  }
}
