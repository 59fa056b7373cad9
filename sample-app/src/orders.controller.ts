import { BadRequestException, Body, Controller, Get, HttpCode, Post, Res } from '@nestjs/common';
import { Idempotent } from '../../src/nest.js';

interface Order {
  id: string;
  item: string;
  amount: number;
}

/** The order book of this process: every entry is one handler execution. */
const orders: Order[] = [];
let nextId = 1;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

@Controller('orders')
export class OrdersController {
  /** Charges once per Idempotency-Key; retries with the same key replay the first response. */
  @Post()
  @HttpCode(201)
  @Idempotent({ strategy: 'key', required: true })
  async create(
    @Body() body: unknown,
    @Res({ passthrough: true }) res: { setHeader(name: string, value: string): unknown },
  ): Promise<Order> {
    const input = parseOrder(body);
    if (input.delayMs > 0) await sleep(input.delayMs);
    if (input.fail) throw new Error('the order failed, as the request asked');
    const order: Order = { id: `ord_${nextId++}`, item: input.item, amount: input.amount };
    orders.push(order);
    res.setHeader('Location', `/orders/${order.id}`);
    res.setHeader('Set-Cookie', `last-order=${order.id}; Path=/; HttpOnly`);
    return order;
  }

  @Get()
  list(): { count: number; orders: Order[] } {
    return { count: orders.length, orders };
  }
}

function parseOrder(body: unknown): {
  item: string;
  amount: number;
  delayMs: number;
  fail: boolean;
} {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestException(
      'the body must be a JSON object { "item": string, "amount": number }',
    );
  }
  const { item, amount, delayMs = 0, fail = false } = body as Record<string, unknown>;
  if (typeof item !== 'string' || item.length === 0 || item.length > 200) {
    throw new BadRequestException('"item" must be a string of 1 to 200 characters');
  }
  if (typeof amount !== 'number' || !Number.isFinite(amount)) {
    throw new BadRequestException('"amount" must be a finite number');
  }
  if (
    typeof delayMs !== 'number' ||
    !Number.isInteger(delayMs) ||
    delayMs < 0 ||
    delayMs > 30_000
  ) {
    throw new BadRequestException('"delayMs" must be a whole number from 0 to 30000');
  }
  if (typeof fail !== 'boolean') throw new BadRequestException('"fail" must be a boolean');
  return { item, amount, delayMs, fail };
}
