import { withDeadline } from '../deadline.js';
import { TollgateConfigError, TollgateHttpError } from '../errors.js';
import type { Lease, LeaseRecorder, TransactionRecordOptions } from '../lease/lease.js';
import type {
  CommittedResult,
  IdempotencyStore,
  StoredResponse,
  StoreTransactions,
} from '../store.js';

/** What a recorder needs to know of its execution. */
export interface RecordedExecution {
  store: IdempotencyStore;
  key: string;
  owner: string;
  retentionMs: number;
  storeTimeoutMs: number;
  lease: Lease;
  /** The status the response has when no `status` option is given (the adapter knows it). */
  defaultStatus: () => number;
  /** Whether the request's outcome is being, or has been, recorded (its response, or a release). */
  finished: () => boolean;
}

/**
 * Writes a request's result into a database transaction, so the handler's writes and the record
 * commit or roll back together. The store does the writing (`StoreTransactions`); this holds the
 * rules: once per request, only while the lease is held, and a lost lease rolls everything back.
 */
export class TransactionRecorder implements LeaseRecorder {
  private recorded = false;
  /**
   * The store took the record in a transaction: whether that transaction committed is the
   * application's to say (`recordIn`), so the response is written only over a committed record.
   */
  wrote = false;

  constructor(private readonly execution: RecordedExecution) {}

  async transaction<T, Client>(
    work: (client: Client) => Promise<T>,
    options: TransactionRecordOptions | undefined,
  ): Promise<T> {
    const transactions = this.transactions();
    this.claim();
    // A lease already lost runs nothing: its writes could only be rolled back.
    this.execution.lease.throwIfLost();
    let tx;
    const opening = transactions.open();
    try {
      tx = await withDeadline('open a transaction', this.execution.storeTimeoutMs, () => opening);
    } catch {
      // One that opens after all is given back: nothing will run in it.
      opening.then(
        (late) => late.rollback(),
        () => undefined,
      );
      // Nothing ran: the key is released after the handler fails, and a retry runs.
      throw notOpened();
    }
    let value: T;
    try {
      value = await work(tx.client as Client);
    } catch (error) {
      await tx.rollback();
      throw error;
    }
    // Rollbacks from here on are not awaited: on a silent database one waits out its own timeout,
    // and the client is answered now. Until the server sees it, the key stays locked.
    try {
      await this.write(transactions, tx.client, this.committedResult(value, options));
    } catch (error) {
      void tx.rollback();
      throw error;
    }
    // Bounded by the store timeout like every store call: a database that stops answering the
    // COMMIT leaves its outcome unknown, which the client hears now rather than after the
    // driver's own, longer, timeout. The key stays locked until the server decides.
    try {
      await withDeadline('commit', this.execution.storeTimeoutMs, () => tx.commit());
    } catch {
      void tx.rollback();
      throw commitFailed();
    }
    return value;
  }

  async recordIn<T>(
    tx: unknown,
    result: T,
    options: TransactionRecordOptions | undefined,
  ): Promise<T> {
    const transactions = this.transactions();
    // Checked before the one record is claimed: a result that cannot be recorded records nothing,
    // and the handler may record its result converted.
    const committed = this.committedResult(result, options);
    this.claim();
    await this.write(transactions, tx, committed);
    return result;
  }

  private async write(
    transactions: StoreTransactions,
    tx: unknown,
    result: CommittedResult,
  ): Promise<void> {
    const { key, owner, retentionMs, storeTimeoutMs, lease } = this.execution;
    // Checked here too: a lease this process no longer trusts is never recorded, even if the
    // store would still take the write.
    lease.throwIfLost();
    let held: boolean;
    try {
      held = await withDeadline('record', storeTimeoutMs, () =>
        transactions.record(tx, key, owner, result, retentionMs),
      );
    } catch (error) {
      const cause = error instanceof Error ? error.cause : undefined;
      if (cause instanceof TollgateConfigError) throw cause;
      throw commitFailed();
    }
    if (!held) {
      lease.lose('another request holds the key now');
      lease.throwIfLost();
    }
    this.wrote = true;
  }

  private committedResult(
    value: unknown,
    options: TransactionRecordOptions | undefined,
  ): CommittedResult {
    const status = options?.status ?? this.execution.defaultStatus();
    if (!Number.isInteger(status) || status < 200 || status > 499) {
      throw new TollgateConfigError(
        'TOLLGATE_TRANSACTION_UNAVAILABLE',
        `A result is recorded with a 2xx, 3xx or 4xx status, not ${String(status)}: pass { status } with the status of the response`,
      );
    }
    // Throws for a BigInt or a cycle; gives nothing for a function or a symbol, which would
    // otherwise be recorded as a result without a body.
    const json = value === undefined ? undefined : (JSON.stringify(value) as string | undefined);
    if (value !== undefined && json === undefined) {
      throw new TypeError(
        `A result is recorded as JSON, and JSON.stringify gives nothing for a ${typeof value}: record plain data`,
      );
    }
    return {
      status,
      headers: Object.entries(options?.headers ?? {}).map(([name, text]) => [name, String(text)]),
      json,
    };
  }

  private transactions(): StoreTransactions {
    const { transactions } = this.execution.store;
    if (transactions) return transactions;
    throw new TollgateConfigError(
      'TOLLGATE_TRANSACTION_UNAVAILABLE',
      'The store keeps its records outside your database, so they cannot commit in your transaction: use PostgresStore from tollgate/postgres on the database your handler writes to',
    );
  }

  /** One record per request: a second would let two transactions both claim to be its result. */
  private claim(): void {
    // After its response is recorded (or its key released) the request has nothing left to record
    // into: said plainly, rather than as a lease another request took.
    if (this.execution.finished()) {
      throw new TollgateConfigError(
        'TOLLGATE_TRANSACTION_UNAVAILABLE',
        'This request has finished: its response is recorded, or its key released. Call lease.transaction() or lease.recordIn() before the handler returns',
      );
    }
    if (this.recorded) {
      throw new TollgateConfigError(
        'TOLLGATE_TRANSACTION_UNAVAILABLE',
        'This request already recorded its result: call lease.transaction() or lease.recordIn() once per request',
      );
    }
    this.recorded = true;
  }
}

/** 503: the transaction could not be opened; nothing ran. */
function notOpened(): TollgateHttpError {
  return new TollgateHttpError({
    code: 'TOLLGATE_STORE_UNAVAILABLE',
    status: 503,
    slug: 'store-unavailable',
    title: 'Service temporarily unavailable',
    detail:
      'The database could not be reached, so the request was not run. Retry after the time in Retry-After.',
    headers: { 'Retry-After': '1' },
  });
}

/**
 * 503: the record or the commit failed in a way that may or may not have committed (a lost
 * connection). The key is then released only if it is still in progress, so the retry is answered
 * from the record if the commit landed, and runs once if it did not.
 */
function commitFailed(): TollgateHttpError {
  return new TollgateHttpError({
    code: 'TOLLGATE_STORE_UNAVAILABLE',
    status: 503,
    slug: 'store-unavailable',
    title: 'Service temporarily unavailable',
    detail:
      'The result could not be committed, or it is not known whether it was. Retry after the time in Retry-After with the same key: if it was committed you get its result, otherwise the request runs.',
    headers: { 'Retry-After': '1' },
  });
}

/**
 * The answer to a retry of a request whose result was committed but whose response was never
 * recorded: the result as JSON, with its status and headers.
 */
export function replayCommitted(result: CommittedResult): {
  action: 'replay';
  response: StoredResponse;
  committed: { value: unknown };
} {
  const { status, headers, json } = result;
  const response: StoredResponse =
    json === undefined
      ? { status, headers, body: new Uint8Array(0) }
      : {
          status,
          headers: [['content-type', 'application/json; charset=utf-8'], ...headers],
          body: Buffer.from(json, 'utf8'),
        };
  return {
    action: 'replay',
    response,
    committed: { value: json === undefined ? undefined : (JSON.parse(json) as unknown) },
  };
}
