import {
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from '../../src/index.js';

/** Renders every error of the sample as problem+json (RFC 9457), like Tollgate's own rejections. */
@Catch()
export class ProblemJsonFilter implements ExceptionFilter {
  private readonly logger = new Logger('SampleApp');
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const adapter = this.adapterHost.httpAdapter;
    const response = host.switchToHttp().getResponse<unknown>();
    const status =
      exception instanceof HttpException ? exception.getStatus() : HttpStatus.INTERNAL_SERVER_ERROR;
    if (status >= 500)
      this.logger.error(exception instanceof Error ? exception.message : String(exception));
    const body = exception instanceof HttpException ? exception.getResponse() : undefined;
    const detail =
      typeof body === 'object' && body !== null && 'message' in body
        ? [(body as { message: unknown }).message].flat().join('; ')
        : status >= 500
          ? 'The server failed to handle the request.'
          : String(body ?? 'Error');
    adapter.setHeader(response, 'Content-Type', PROBLEM_CONTENT_TYPE);
    adapter.reply(
      response,
      {
        type: `${PROBLEM_TYPE_BASE}${status >= 500 ? 'server-error' : 'request-invalid'}`,
        title: status >= 500 ? 'Internal Server Error' : 'Bad Request',
        status,
        detail,
      },
      status,
    );
  }
}
