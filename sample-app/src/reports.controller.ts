import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Idempotent } from '../../src/nest.js';

let executions = 0;

@Controller('reports')
export class ReportsController {
  /** A client that reports one change as several identical requests: they run once per 5 s window. */
  @Post()
  @HttpCode(201)
  @Idempotent({ strategy: 'fingerprint', window: '5s' })
  report(@Body() _body: unknown): { id: string } {
    executions++;
    return { id: `rep_${executions}` };
  }

  @Get()
  count(): { count: number } {
    return { count: executions };
  }
}
