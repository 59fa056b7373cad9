/**
 * The payments behind `POST /payments` and `GET /payments`, framework-free, so every variant of
 * the sample takes payments in exactly the same way: a handler that works under its idempotency
 * lease, and a ledger that refuses the write of a request that lost its lease (fencing).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { Cluster, Redis } from 'ioredis';

import { parseIdempotencyKey, TollgateHttpError, type IdempotencyLease } from 'tollgate';
import { InvalidRequestError, readAmountAndDelay } from './orders.js';

export interface PaymentRequest {
  amount: number;
  /** The handler waits this long first: a slow payment provider. */
  delayMs: number;
}

/** What `POST /payments` answers with (201). */
export interface Payment {
  id: string;
  amount: number;
  /** The fencing token of the request that wrote the payment. */
  fencingToken: number;
}

/** A payment as the ledger keeps it: one per write, so one per execution of `POST /payments`. */
export interface LedgerEntry extends Payment {
  key: string;
  /** The user who sent the key; absent for anonymous requests. */
  user?: string;
}

/** A fenced write: the payment for `key`, by the request holding the lease with `fencingToken`. */
export interface PaymentWrite {
  key: string;
  user: string | undefined;
  fencingToken: number;
  amount: number;
}

/** A payment to run under its lease: what the request asked for, and the key it runs under. */
export interface PaymentTake {
  key: string;
  user: string | undefined;
  amount: number;
  delayMs: number;
}

/**
 * An append-only ledger, as a payment provider's would be: every write that is accepted is one more
 * payment, so the ledger shows exactly how many times a payment really ran. A write is refused if a
 * higher fencing token was already seen for its key: it comes from a request that lost its lease
 * to a newer one. An abstract class rather than an interface, so that Nest can inject it by its
 * type.
 */
export abstract class PaymentLedger {
  /** The entry as written, or `undefined` when the write was refused (a stale fencing token). */
  abstract record(write: PaymentWrite): Promise<LedgerEntry | undefined>;
  /** Every entry, in the order they were created. */
  abstract list(): Promise<{ count: number; payments: LedgerEntry[] }>;

  /**
   * Runs a payment under its lease: wait for the payment provider, then record the payment with a
   * write fenced by the lease's token. The PostgreSQL ledger overrides this: there the row and
   * Tollgate's record commit in one transaction.
   */
  async pay(take: PaymentTake, lease: IdempotencyLease): Promise<Payment> {
    // The signal aborts the wait as soon as another request may take over the key...
    await sleep(take.delayMs, undefined, { signal: lease.signal }).catch(() => undefined);
    // ...and then this throws the 409 (lease-lost): nothing is written.
    lease.throwIfLost();
    // A process that stalls right here, past its lease, still cannot overwrite the payment of the
    // request that took over: that one's token is higher, and the ledger refuses the lower one.
    const entry = await this.record({
      key: take.key,
      user: take.user,
      fencingToken: lease.fencingToken,
      amount: take.amount,
    });
    if (!entry) throw overtaken();
    return { id: entry.id, amount: entry.amount, fencingToken: entry.fencingToken };
  }
}

/** Reads `{ "amount": number, "delayMs"?: 0..30000 }`. */
export function parsePayment(body: unknown): PaymentRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('the body must be a JSON object { "amount": number }');
  }
  const { amount, delayMs = 0 } = body as Record<string, unknown>;
  return readAmountAndDelay(amount, delayMs);
}

/**
 * `POST /payments` in every variant: under the request's lease (`@Lease()` in Nest,
 * `req.idempotency` in Express), the ledger runs the payment (see `PaymentLedger.pay`).
 */
export async function takePayment(
  ledger: PaymentLedger,
  request: { body: unknown; idempotencyKey: string | string[] | undefined; user?: { id: string } },
  lease: IdempotencyLease | undefined,
): Promise<Payment> {
  const { amount, delayMs } = parsePayment(request.body);
  // The key as Tollgate reads it: `k1` and the quoted `"k1"` are one key, so one ledger entry.
  const key = parseIdempotencyKey(request.idempotencyKey, 'Idempotency-Key');
  // The route requires a key, and a store failure answers 503: the handler only runs under a lease.
  if (!lease || key === undefined) throw new Error('POST /payments ran without a lease');
  return ledger.pay({ key, user: request.user?.id, amount, delayMs }, lease);
}

/** The ledger refused the write: a newer request for the same key wrote first. */
function overtaken(): TollgateHttpError {
  return new TollgateHttpError({
    code: 'TOLLGATE_LEASE_LOST',
    status: 409,
    slug: 'lease-lost',
    title: 'The request lost its lease',
    detail:
      'Another request took over this Idempotency-Key and recorded its payment; this one wrote nothing. Retry after Retry-After to get the result.',
    headers: { 'Retry-After': '1' },
  });
}

/**
 * Where a key's entry and token live. Tollgate scopes keys per user, and fencing tokens with
 * them: alice's key "k1" and bob's key "k1" are two payments, each with tokens of its own.
 */
function ledgerKey(write: { key: string; user: string | undefined }): string {
  return JSON.stringify([write.user ?? null, write.key]);
}

/** A ledger entry from its id and its write. */
export function entryOf(id: string, write: PaymentWrite): LedgerEntry {
  const { key, user, amount, fencingToken } = write;
  return { id, amount, fencingToken, key, ...(user === undefined ? {} : { user }) };
}

/** The ledger of one process, for the in-memory store. */
export class MemoryPaymentLedger extends PaymentLedger {
  /** In the order they were written. */
  private readonly entries: LedgerEntry[] = [];
  /** The highest fencing token seen per ledger key. */
  private readonly fences = new Map<string, number>();
  private lastId = 0;

  async record(write: PaymentWrite): Promise<LedgerEntry | undefined> {
    const field = ledgerKey(write);
    if ((this.fences.get(field) ?? 0) > write.fencingToken) return undefined;
    this.fences.set(field, write.fencingToken);
    const entry = entryOf(`pay_${++this.lastId}`, write);
    this.entries.push(entry);
    return entry;
  }

  async list(): Promise<{ count: number; payments: LedgerEntry[] }> {
    return { count: this.entries.length, payments: [...this.entries] };
  }
}

/** The Redis keys of the ledger, beside (never among) Tollgate's own `tollgate:` keys. */
const ENTRIES = 'tollgate-sample:payments:entries';
const FENCES = 'tollgate-sample:payments:fences';
const LAST_ID = 'tollgate-sample:payments:last-id';

/**
 * One fenced write, atomic, so concurrent processes cannot interleave between the check and the
 * write. KEYS: the entries (a list of "<n> <entry JSON>"), the fences (hash: ledger key -> highest
 * token seen), the id counter. ARGV: ledger key, fencing token, entry JSON (built by the app, so
 * numbers stay exact: Lua would round a 16-digit token). Replies the entry's number, or nil when
 * the write is refused.
 */
export const RECORD_PAYMENT = `
local seen = redis.call('HGET', KEYS[2], ARGV[1])
if seen and tonumber(seen) > tonumber(ARGV[2]) then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local n = redis.call('INCR', KEYS[3])
redis.call('RPUSH', KEYS[1], n .. ' ' .. ARGV[3])
return n
`;

/** The ledger of every process that shares one Redis, on the store's own connection. */
export class RedisPaymentLedger extends PaymentLedger {
  constructor(private readonly client: Redis | Cluster) {
    super();
  }

  async record(write: PaymentWrite): Promise<LedgerEntry | undefined> {
    const { key, user, amount, fencingToken } = write;
    const fields = JSON.stringify({ amount, fencingToken, key, user });
    const n = await this.client.eval(
      RECORD_PAYMENT,
      3,
      ENTRIES,
      FENCES,
      LAST_ID,
      ledgerKey(write),
      String(fencingToken),
      fields,
    );
    return n === null ? undefined : entryOf(`pay_${String(n)}`, write);
  }

  async list(): Promise<{ count: number; payments: LedgerEntry[] }> {
    const payments = (await this.client.lrange(ENTRIES, 0, -1)).map((value) => {
      const space = value.indexOf(' ');
      return entryOf(
        `pay_${value.slice(0, space)}`,
        JSON.parse(value.slice(space + 1)) as PaymentWrite,
      );
    });
    return { count: payments.length, payments };
  }
}
