import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Idempotent } from '../../src/nest.js';

let executions = 0;

@Controller('commands')
export class CommandsController {
  /** A short lock on the request's fingerprint, never released: duplicates get 409 for 2 s. */
  @Post()
  @HttpCode(202)
  @Idempotent({ strategy: 'lock', window: '2s', lockKey: 'fingerprint' })
  send(@Body() _body: unknown): { id: string } {
    executions++;
    return { id: `cmd_${executions}` };
  }

  @Get()
  count(): { count: number } {
    return { count: executions };
  }
}
