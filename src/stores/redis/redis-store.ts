import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';

import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

import { ALGORITHM_CODES, blockKey, ruleKey } from '../../core/ratelimit/rule-keys.js';
import type {
  BeginResult,
  LockResult,
  RateLimitResult,
  RateLimitRule,
  StoredResponse,
  TollgateStore,
  UnstorableReason,
} from '../../core/store.js';
import {
  BEGIN,
  COMPLETE,
  LOCK,
  MARK_UNSTORABLE,
  FIXED_WINDOWS,
  RATE_LIMIT,
  RELEASE,
  RENEW,
  type LuaScript,
} from './scripts.js';

/**
 * Options for a connection the store opens itself. The request path must never hang on a dead or
 * silent Redis, nor run a write late, so these defaults apply unless overridden: no offline queue
 * (fail at once while disconnected), and no silent re-send of commands that were sent but never
 * answered. There is no per-command timeout (ioredis's `commandTimeout`): every call the engines
 * make already runs under the route's own deadline (`storeTimeoutMs`), and ioredis would arm and
 * clear a second, redundant timer for every command.
 * `close()` bounds its QUIT itself. ioredis's auto-pipelining is off on a single connection: the
 * store batches its own writes there (see `batched()`), which costs less per command and never
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

/**
 * The store for real deployments: every decision is one Lua script, one round trip. Works on a
 * single node, behind Sentinel and on Cluster (each script touches one key, or keys that share one
 * `{hash tag}`).
 */
export class RedisStore implements TollgateStore {
  readonly kind = 'redis';
  readonly client: Redis | Cluster;
  private readonly ownsClient: boolean;

  constructor(options: RedisStoreOptions) {
    if ('client' in options) {
      this.client = options.client;
      this.ownsClient = false;
      warnAboutUnsafeClient(options.client, options.logger ?? console);
    } else if ('url' in options) {
      this.client = new Redis(options.url, { ...SAFE_CLIENT_DEFAULTS, ...options.options });
      this.ownsClient = true;
    } else if ('connection' in options) {
      this.client = new Redis({ ...SAFE_CLIENT_DEFAULTS, ...options.connection });
      this.ownsClient = true;
    } else {
      const { connectTimeout, autoResendUnfulfilledCommands } = SAFE_CLIENT_DEFAULTS;
      this.client = new Cluster(options.cluster, {
        enableOfflineQueue: false,
        // A socket per node, which the store does not batch itself (see `batched()`).
        enableAutoPipelining: true,
        ...options.options,
        redisOptions: {
          connectTimeout,
          autoResendUnfulfilledCommands,
          ...options.options?.redisOptions,
        },
      });
      this.ownsClient = true;
    }
    // A client that errors with no listener crashes the process; connection trouble surfaces
    // through each command's rejection instead, which the engines turn into the route's policy.
    if (this.ownsClient) this.client.on('error', () => undefined);
  }

  async ready(): Promise<void> {
    if (this.client.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        this.client.off('end', onEnd);
        resolve();
      };
      const onEnd = (): void => {
        this.client.off('ready', onReady);
        reject(new Error('the Redis connection ended before it was ready'));
      };
      this.client.once('ready', onReady);
      this.client.once('end', onEnd);
    });
  }

  async begin(
    key: string,
    owner: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    const reply = (await this.run(
      BEGIN,
      true,
      2,
      key,
      fenceKey(key),
      owner,
      fingerprint,
      leaseMs,
    )) as [Buffer, Buffer];
    if (reply[0].equals(ACQUIRED_REPLY)) return acquired(reply[1]);
    return this.readRecord(key, reply[1], owner, fingerprint);
  }

  /** What `begin` found under a held key, read here rather than inside the script. */
  private async readRecord(
    key: string,
    held: Buffer,
    owner: string,
    fingerprint: string,
  ): Promise<BeginResult> {
    const ownerEnd = held.indexOf(NEWLINE, 2);
    const fingerprintEnd = held.indexOf(NEWLINE, ownerEnd + 1);
    const tokenEnd = held.indexOf(NEWLINE, fingerprintEnd + 1);
    if (ownerEnd < 0 || fingerprintEnd < 0 || tokenEnd < 0) {
      // A lock under an idempotency key cannot happen (their keys differ); anything else is not ours.
      throw new Error(`unexpected idempotency record under ${key}`);
    }
    // The same key with another request behind it: report it without revealing anything stored.
    if (held.toString('latin1', ownerEnd + 1, fingerprintEnd) !== fingerprint) return MISMATCH;
    switch (held[0]) {
      case IN_PROGRESS: {
        // Our own lease (this call was re-sent): still ours, with the token it was taken with.
        if (held.toString('latin1', 2, ownerEnd) === owner) {
          return acquired(held.subarray(fingerprintEnd + 1, tokenEnd));
        }
        const remaining = await this.batched().pttl(key);
        return { state: 'in-progress', retryAfterMs: Math.max(0, remaining) };
      }
      case COMPLETED: {
        const statusEnd = held.indexOf(NEWLINE, tokenEnd + 1);
        const headersEnd = held.indexOf(NEWLINE, statusEnd + 1);
        return {
          state: 'completed',
          response: {
            status: Number(held.toString('latin1', tokenEnd + 1, statusEnd)),
            headers: JSON.parse(held.toString('utf8', statusEnd + 1, headersEnd)) as Array<
              [string, string]
            >,
            body: held.subarray(headersEnd + 1),
          },
        };
      }
      default:
        return {
          state: 'unstorable',
          reason: held.toString('latin1', tokenEnd + 1) as UnstorableReason,
        };
    }
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    const done = await this.run(
      COMPLETE,
      false,
      2,
      key,
      fenceKey(key),
      owner,
      recordTail(response),
      retentionMs,
    );
    return done === 1;
  }

  async markUnstorable(
    key: string,
    owner: string,
    reason: UnstorableReason,
    retentionMs: number,
  ): Promise<boolean> {
    return (
      (await this.run(
        MARK_UNSTORABLE,
        false,
        2,
        key,
        fenceKey(key),
        owner,
        reason,
        retentionMs,
      )) === 1
    );
  }

  async release(key: string, owner: string): Promise<boolean> {
    return (await this.run(RELEASE, false, 1, key, owner)) === 1;
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.run(RENEW, false, 2, key, fenceKey(key), owner, leaseMs)) === 1;
  }

  async lock(key: string, owner: string, ttlMs: number): Promise<LockResult> {
    const reply = (await this.run(LOCK, false, 2, key, fenceKey(key), owner, ttlMs)) as [
      string,
      string | number,
    ];
    return reply[0] === 'acquired'
      ? { acquired: true, fencingToken: Number(reply[1]) }
      : { acquired: false, retryAfterMs: Math.max(0, Number(reply[1])) };
  }

  async consume(key: string, rules: readonly RateLimitRule[]): Promise<RateLimitResult> {
    // Every key derives from `key`, so all of them share its {hash tag}: one slot, one script.
    // KEYS: the block record, then one state key per limit; ARGV: the rules, then a nonce.
    const { script, args, nonce } = scriptCall(rules);
    const call: string[] = [blockKey(key)];
    for (const rule of rules) call.push(ruleKey(key, rule));
    for (const arg of args) call.push(arg);
    if (nonce) call.push(nextNonce());
    const reply = (await this.run(script, false, rules.length + 1, ...call)) as number[];
    const limits = rules.map((rule, index) => {
      const at = 1 + index * 4;
      return {
        name: rule.name,
        allowed: reply[at] === 1,
        remaining: Number(reply[at + 1]),
        resetMs: Number(reply[at + 2]),
        retryAfterMs: Number(reply[at + 3]),
      };
    });
    const allowed = reply[0] === 1;
    return {
      allowed,
      retryAfterMs: allowed
        ? 0
        : Math.max(...limits.filter((state) => !state.allowed).map((state) => state.retryAfterMs)),
      limits,
    };
  }

  /**
   * Runs a script as ioredis's `defineCommand` would, without its wrapper (an extra promise, a
   * closure and two copies of the arguments on every call): the first call on a connection sends
   * the script's text (EVAL), which loads it, and later calls only its SHA1 (EVALSHA). A server
   * that forgot it anyway (`SCRIPT FLUSH`; a Cluster node, whose connections the store does not
   * see) answers NOSCRIPT, and the call is sent again as EVAL.
   */
  private async run(
    script: LuaScript,
    buffers: boolean,
    numberOfKeys: number,
    ...keysAndArgs: Array<string | number | Buffer>
  ): Promise<unknown> {
    const client = this.batched();
    const byText = (): Promise<unknown> =>
      buffers
        ? (client as unknown as BufferEval).evalBuffer(script.lua, numberOfKeys, ...keysAndArgs)
        : client.eval(script.lua, numberOfKeys, ...keysAndArgs);
    const connection = (client as { stream?: object }).stream;
    if (connection !== undefined) {
      let sent = scriptsSentOn.get(connection);
      if (!sent) scriptsSentOn.set(connection, (sent = new Set()));
      if (!sent.has(script)) {
        sent.add(script);
        return byText();
      }
    }
    try {
      return await (buffers
        ? (client as unknown as BufferEval).evalshaBuffer(script.sha, numberOfKeys, ...keysAndArgs)
        : client.evalsha(script.sha, numberOfKeys, ...keysAndArgs));
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return byText();
    }
  }

  /** The stream corked now, uncorked by the `setImmediate` that the first command scheduled. */
  private corked: Corkable | undefined;
  private readonly uncork = (): void => {
    const stream = this.corked;
    this.corked = undefined;
    stream?.uncork();
  };

  /**
   * The client, its socket corked until the end of this turn of the event loop: every command the
   * store sends while requests are being read in this turn leaves in one socket write, and Redis
   * reads them in one go, as ioredis's auto-pipelining would do, but without its pipeline object
   * per batch and without holding a batch until the previous one is answered. A Cluster client has
   * a socket per node and auto-pipelines instead.
   */
  private batched(): Redis | Cluster {
    if (this.corked !== undefined) return this.client;
    const stream = (this.client as { stream?: Corkable }).stream;
    if (stream && this.client.status === 'ready') {
      stream.cork();
      this.corked = stream;
      setImmediate(this.uncork);
    }
    return this.client;
  }

  /**
   * Closes a connection the store opened: QUIT, so commands already sent are answered first, but
   * for at most `CLOSE_TIMEOUT_MS`; a silent or vanished server is then simply disconnected, and
   * an app's shutdown never waits on it.
   */
  async close(): Promise<void> {
    if (!this.ownsClient) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS, 'timeout');
    });
    try {
      const outcome = await Promise.race([this.client.quit(), timedOut]);
      if (outcome === 'timeout') this.closeSockets();
    } catch {
      // Already disconnected: nothing left to close.
      this.closeSockets();
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Disconnects at once. ioredis's `disconnect()` only half-closes a socket (`end()`), which a
   * silent server never completes: the socket would stay open and keep the process alive, so
   * each one is destroyed as well.
   */
  private closeSockets(): void {
    const connections = this.client instanceof Cluster ? this.client.nodes() : [this.client];
    this.client.disconnect();
    for (const connection of connections) {
      (connection as { stream?: { destroy(): void } }).stream?.destroy();
    }
  }
}

/**
 * The completed record's fields after the fingerprint: `<status>\n<headers JSON>\n<body>`. A body
 * of UTF-8 text (what JSON handlers send) goes as part of one string: ioredis then writes the whole
 * command as one string, where a Buffer argument switches it to assembling a Buffer from pieces.
 * The bytes stored are the same, since valid UTF-8 decodes and encodes back unchanged.
 */
function recordTail(response: StoredResponse): string | Buffer {
  const head = `${response.status}\n${JSON.stringify(response.headers)}\n`;
  const body = Buffer.from(
    response.body.buffer,
    response.body.byteOffset,
    response.body.byteLength,
  );
  if (body.byteLength <= STRING_BODY_MAX_BYTES && isUtf8(body)) return head + body.toString('utf8');
  return Buffer.concat([Buffer.from(head), body]);
}

/** How long `close()` waits for the server to answer QUIT before it disconnects. */
const CLOSE_TIMEOUT_MS = 1_000;

/** Larger bodies stay bytes: decoding and encoding them again would cost more than a copy. */
const STRING_BODY_MAX_BYTES = 16 * 1024;

/** The scripts each connection (socket) has been sent in full, so its server knows them. */
const scriptsSentOn = new WeakMap<object, Set<LuaScript>>();

/**
 * The Buffer-reply forms of EVAL and EVALSHA, which ioredis has for every command but does not
 * declare for these two. (`callBuffer` would do, but drops the command's name when a Cluster
 * client auto-pipelines it.)
 */
interface BufferEval {
  evalshaBuffer(
    sha: string,
    numberOfKeys: number,
    ...keysAndArgs: Array<string | number | Buffer>
  ): Promise<unknown>;
  evalBuffer(
    lua: string,
    numberOfKeys: number,
    ...keysAndArgs: Array<string | number | Buffer>
  ): Promise<unknown>;
}

const NEWLINE = 0x0a;
const IN_PROGRESS = 0x70; // 'p'
const COMPLETED = 0x63; // 'c'
const ACQUIRED_REPLY = Buffer.from('acquired');

/** Where a record's last fencing token is kept: beside it, in the same {hash tag} (one slot). */
function fenceKey(key: string): string {
  return `${key}:fence`;
}

function acquired(token: Buffer): BeginResult {
  return { state: 'acquired', fencingToken: Number(token.toString('latin1')) };
}

interface Corkable {
  cork(): void;
  uncork(): void;
}

// The reply without data, shared rather than made per request.
const MISMATCH: BeginResult = Object.freeze({ state: 'mismatch' });

/** Which script decides for a set of rules, and the rules' part of its arguments. */
interface ScriptCall {
  script: LuaScript;
  /** Already strings, so ioredis converts nothing per call. */
  args: readonly string[];
  /** Whether a nonce follows (sliding-window members must be unique). */
  nonce: boolean;
}

/**
 * Built once per rules array (a route's, which never changes), not per request: fixed windows that
 * never block take the lean script, anything else the general one.
 */
const scriptCalls = new WeakMap<readonly RateLimitRule[], ScriptCall>();
function scriptCall(rules: readonly RateLimitRule[]): ScriptCall {
  let call = scriptCalls.get(rules);
  if (!call) {
    const lean = rules.every((rule) => rule.algorithm === 'fixed-window' && rule.blockMs <= 0);
    const args = [String(rules.length)];
    for (const rule of rules) {
      if (lean) args.push(String(rule.limit), String(rule.windowMs), String(rule.cost));
      else {
        args.push(
          rule.name,
          ALGORITHM_CODES[rule.algorithm],
          String(rule.limit),
          String(rule.windowMs),
          String(rule.cost),
          String(rule.blockMs),
        );
      }
    }
    call = lean
      ? { script: FIXED_WINDOWS, args, nonce: false }
      : { script: RATE_LIMIT, args, nonce: true };
    scriptCalls.set(rules, call);
  }
  return call;
}

/**
 * Sliding-window members must be unique across every app server: a random per-process prefix and
 * a counter give that without a round trip.
 */
const NONCE_PREFIX = randomBytes(9).toString('base64url');
let nonceCounter = 0;
function nextNonce(): string {
  nonceCounter = (nonceCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${NONCE_PREFIX}${nonceCounter.toString(36)}`;
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
