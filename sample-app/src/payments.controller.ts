import { Body, Controller, Get, Headers, HttpCode, Post, Req } from '@nestjs/common';
import type { IdempotencyLease } from 'tollgate';
import { Idempotent, Lease } from 'tollgate/nest';
import { PaymentLedger, takePayment, type LedgerEntry, type Payment } from './shared/payments.js';
import { ROUTE_PROTECTION } from './shared/protection.js';

@Controller('payments')
export class PaymentsController {
  constructor(private readonly ledger: PaymentLedger) {}

  /** Pays once per Idempotency-Key; the ledger write is fenced by the lease's token. */
  @Post()
  @HttpCode(201)
  @Idempotent(ROUTE_PROTECTION.payments)
  pay(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Req() request: { user?: { id: string } },
    @Lease() lease: IdempotencyLease | undefined,
  ): Promise<Payment> {
    return takePayment(this.ledger, { body, idempotencyKey, user: request.user }, lease);
  }

  @Get()
  list(): Promise<{ count: number; payments: LedgerEntry[] }> {
    return this.ledger.list();
  }
}
