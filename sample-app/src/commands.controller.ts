import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Idempotent } from 'tollgate/nest';
import { ExecutionCounter } from './shared/orders.js';
import { ROUTE_PROTECTION } from './shared/protection.js';

const commands = new ExecutionCounter('cmd');

@Controller('commands')
export class CommandsController {
  /** A short lock on the request's fingerprint, never released: duplicates get 409 for 2 s. */
  @Post()
  @HttpCode(202)
  @Idempotent(ROUTE_PROTECTION.commands)
  send(@Body() _body: unknown): { id: string } {
    return commands.run();
  }

  @Get()
  count(): { count: number } {
    return commands.count();
  }
}
