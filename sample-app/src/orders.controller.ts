import { BadRequestException, Body, Controller, Get, HttpCode, Post, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Idempotent } from 'tollgate/nest';
import {
  InvalidRequestError,
  OrderBook,
  orderHeaders,
  parseOrder,
  type Order,
  type OrderRequest,
} from './shared/orders.js';
import { ROUTE_PROTECTION } from './shared/protection.js';

/** The order book of this process: every entry is one handler execution. */
const orders = new OrderBook();

@Controller('orders')
export class OrdersController {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /** Charges once per Idempotency-Key; retries with the same key replay the first response. */
  @Post()
  @HttpCode(201)
  @Idempotent(ROUTE_PROTECTION.orders)
  async create(@Body() body: unknown, @Res({ passthrough: true }) res: unknown): Promise<Order> {
    const order = await orders.place(parseOrThrow(body));
    // Through Nest's adapter, as Express's response and Fastify's reply set headers differently.
    const adapter = this.adapterHost.httpAdapter;
    for (const [name, value] of Object.entries(orderHeaders(order)))
      adapter.setHeader(res, name, value);
    return order;
  }

  @Get()
  list(): { count: number; orders: Order[] } {
    return orders.list();
  }
}

/** The shared validation's refusal, as the 400 Nest's exception filter renders. */
function parseOrThrow(body: unknown): OrderRequest {
  try {
    return parseOrder(body);
  } catch (error) {
    if (error instanceof InvalidRequestError) throw new BadRequestException(error.message);
    throw error;
  }
}
