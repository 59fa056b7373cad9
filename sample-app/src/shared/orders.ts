/**
 * The order book behind `POST /orders` and `GET /orders`, framework-free, so the Nest and Express
 * variants of the sample parse, validate and create orders in exactly the same way.
 */

export interface Order {
  id: string;
  item: string;
  amount: number;
}

export interface OrderRequest {
  item: string;
  amount: number;
  /** The handler waits this long first, to show what duplicates get while a request runs. */
  delayMs: number;
  /** The handler throws (500), to show that failures release the key. */
  fail: boolean;
}

/** A request body the sample refuses with a 400; each variant renders it as problem+json. */
export class InvalidRequestError extends Error {
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** Reads `{ "item": string, "amount": number, "delayMs"?: 0..30000, "fail"?: boolean }`. */
export function parseOrder(body: unknown): OrderRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError(
      'the body must be a JSON object { "item": string, "amount": number }',
    );
  }
  const { item, amount, delayMs = 0, fail = false } = body as Record<string, unknown>;
  if (typeof item !== 'string' || item.length === 0 || item.length > 200) {
    throw new InvalidRequestError('"item" must be a string of 1 to 200 characters');
  }
  const checked = readAmountAndDelay(amount, delayMs);
  if (typeof fail !== 'boolean') throw new InvalidRequestError('"fail" must be a boolean');
  return { item, ...checked, fail };
}

/** `amount` and `delayMs` as every sample route that takes them reads them. */
export function readAmountAndDelay(
  amount: unknown,
  delayMs: unknown,
): { amount: number; delayMs: number } {
  if (typeof amount !== 'number' || !Number.isFinite(amount)) {
    throw new InvalidRequestError('"amount" must be a finite number');
  }
  if (
    typeof delayMs !== 'number' ||
    !Number.isInteger(delayMs) ||
    delayMs < 0 ||
    delayMs > 30_000
  ) {
    throw new InvalidRequestError('"delayMs" must be a whole number from 0 to 30000');
  }
  return { amount, delayMs };
}

/** The orders one app created: every entry is one handler execution, which the tests count. */
export class OrderBook {
  private readonly orders: Order[] = [];
  private nextId = 1;

  /** Runs the order as the request asks: wait, fail, or create it. */
  async place(request: OrderRequest): Promise<Order> {
    if (request.delayMs > 0) await sleep(request.delayMs);
    if (request.fail) throw new Error('the order failed, as the request asked');
    const order: Order = { id: `ord_${this.nextId++}`, item: request.item, amount: request.amount };
    this.orders.push(order);
    return order;
  }

  list(): { count: number; orders: Order[] } {
    return { count: this.orders.length, orders: this.orders };
  }
}

/** Counts the executions of a handler that only answers an id (`/reports`, `/commands`). */
export class ExecutionCounter {
  private executions = 0;
  constructor(private readonly prefix: string) {}

  /** One more execution: its id. */
  run(): { id: string } {
    this.executions++;
    return { id: `${this.prefix}_${this.executions}` };
  }

  count(): { count: number } {
    return { count: this.executions };
  }
}

/** The headers a created order is answered with; `Set-Cookie` shows that it is never replayed. */
export function orderHeaders(order: Order): Record<string, string> {
  return {
    Location: `/orders/${order.id}`,
    'Set-Cookie': `last-order=${order.id}; Path=/; HttpOnly`,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
