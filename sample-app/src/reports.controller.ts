import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Idempotent } from 'tollgate/nest';
import { ExecutionCounter } from './shared/orders.js';
import { ROUTE_PROTECTION } from './shared/protection.js';

const reports = new ExecutionCounter('rep');

@Controller('reports')
export class ReportsController {
  /** A client that reports one change as several identical requests: they run once per 5 s window. */
  @Post()
  @HttpCode(201)
  @Idempotent(ROUTE_PROTECTION.reports)
  report(@Body() _body: unknown): { id: string } {
    return reports.run();
  }

  @Get()
  count(): { count: number } {
    return reports.count();
  }
}
