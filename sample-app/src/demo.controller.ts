import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { demoFile } from './shared/demo.js';

/** The checkout demo (`GET /demo`): the files `demoFile` serves, on Express and Fastify alike. */
@Controller('demo')
export class DemoController {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  @Get()
  page(@Res() response: unknown): Promise<void> {
    return this.send(response, '');
  }

  @Get(':file')
  file(@Param('file') name: string, @Res() response: unknown): Promise<void> {
    return this.send(response, name);
  }

  private async send(response: unknown, name: string): Promise<void> {
    const file = await demoFile(name);
    if (!file) throw new NotFoundException(`Cannot GET /demo/${name}`);
    // Through the adapter, so the same code answers on Express and on Fastify.
    const adapter = this.adapterHost.httpAdapter;
    for (const [header, value] of Object.entries(file.headers))
      adapter.setHeader(response, header, value);
    adapter.reply(response, file.body, 200);
  }
}
